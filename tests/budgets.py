"""Error budgets for comparing bncheck's BN with the mpmath truth in tests.

Narrow dtypes (float16, float32): bncheck computes in float64 and rounds once. The float64 part
errs by at most about (m + 10)·u64·(1 + |mu|/sigma) relative to the output scale; for the inputs
the tests draw (m <= 10^3, |mu|/sigma <= 10^4) that is <= 1.2e-9, about 2% of a float32 ULP
(2^-23 = 1.2e-7 relative). So the result is the truth rounded once, up to that sliver: at most
0.5 ULP of the entry, hence <= 0.5 normwise ULP. Budget: 1 normwise ULP (0.5 for the rounding,
the rest covers the sliver with a wide margin).

float64: recursive-summation bounds (Higham, Accuracy and Stability, §4.2): a sum of k terms
errs by at most gamma_k = k·u/(1 − k·u) times the sum of |terms|, u = 2^-53. Every quantity of
BN is a few such sums followed by a bounded number (<= 10) of roundings, so each output entry
errs by at most K·u times the *scale* of its terms, with K = 2·(m + 10) (the factor 2 covers
products of two perturbed sums to first order). The scales, per channel:

    y:      |gamma|·(max|x_hat| + 1) + |beta|        (the +1: error of mu over sigma)
    dx:     |gamma|·inv_std·(max|dy| + mean|dy| + max|x_hat|·mean|dy·x_hat| + max|dy|)
    dgamma: Σ|dy·x_hat| + max|x_hat|·Σ|dy|           (x_hat's own error times dy)
    dbeta:  Σ|dy|

These are worst-case bounds, not estimates: a correct float64 BN cannot exceed them, and a
wrong formula (a missing path, eps twice) is off by far more than K·u.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

U64 = 2.0**-53


def columns(a: NDArray[Any], axis: int) -> NDArray[np.float64]:
    """(…, C, …) -> (m, C) float64."""
    moved = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def f64_scales(
    x: NDArray[Any],
    gamma: NDArray[Any] | None,
    beta: NDArray[Any] | None,
    dy: NDArray[Any],
    eps: float,
    axis: int,
) -> dict[str, NDArray[np.float64]]:
    """Per-channel scales of the float64 budget (see the module docstring)."""
    xc = columns(x, axis)
    dyc = columns(dy, axis)
    c = xc.shape[1]
    g = np.ones(c) if gamma is None else np.abs(np.asarray(gamma, dtype=np.float64))
    b = np.zeros(c) if beta is None else np.abs(np.asarray(beta, dtype=np.float64))
    var = xc.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = np.abs(xc - xc.mean(axis=0)) * inv_std
    mx = x_hat.max(axis=0)
    sdy = np.abs(dyc).sum(axis=0)
    sdyx = np.abs(dyc * x_hat).sum(axis=0)
    m = xc.shape[0]
    max_dy = np.abs(dyc).max(axis=0)
    return {
        "y": g * (mx + 1.0) + b,
        "dx": g * inv_std * (2 * max_dy + sdy / m + mx * sdyx / m),
        "dgamma": sdyx + mx * sdy,
        "dbeta": sdy,
    }


def f64_k(m: int) -> float:
    return 2.0 * (m + 10)


def assert_within_f64_budget(
    name: str,
    actual: NDArray[Any],
    truth: NDArray[Any],
    scale: NDArray[np.float64],
    m: int,
    axis: int | None,
) -> None:
    """|actual − truth| <= K·u·scale per channel (axis=None: a per-channel vector)."""
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    err = np.abs(a - r) if axis is None else np.abs(columns(a, axis) - columns(r, axis)).max(0)
    bound = f64_k(m) * U64 * scale
    worst = int(np.argmax(err / bound))
    assert np.all(err <= bound), (
        f"{name}: channel {worst} error {err.flat[worst]:.3e} exceeds the float64 budget "
        f"{bound.flat[worst]:.3e} (K={f64_k(m):.0f}, scale={scale.flat[worst]:.3e})"
    )
