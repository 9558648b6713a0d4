"""Independent wrong BNs, one per numeric row of the mistake catalogue
(bncheck.check._verify.diagnosis.mistakes).

Written from each mistake's one-line description, never from the catalogue's formulas, so that a
catalogue model that drifts from its mistake disagrees with the row here
(tests/check/test_mistake_models.py):

- a mistake in the *forward* (eps outside the root, eps twice or missing, the unbiased variance,
  statistics over N only, a reshape that mixes channels) is that wrong forward, and its
  gradients are taken by the complex step, f'(x) = Im f(x + i·h)/h: no hand derivation is
  involved at all;
- a mistake in the *backward* (a missing path, a missing sum, gamma forgotten, dgamma or dbeta
  of the wrong quantity) is the source paper's staged chain rule with that one step changed.

Arrays: x, dy of shape (N, C, ...) with the channel on axis 1, gamma and beta of shape (C,),
float64. Every reference returns all four outputs: y, dx (shape of x), dgamma, dbeta (C,).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["REFERENCES", "Backward", "Forward", "correct", "staged", "wrong_forward"]

Array = NDArray[Any]
Outputs = dict[str, NDArray[np.float64]]
Reference = Callable[[Array, Array, Array, Array, float], Outputs]

#: The complex step: far below any rounding, as nothing is subtracted.
STEP = 1e-20


def _stat_axes(x: Array, batch_axis_only: bool = False) -> tuple[int, ...]:
    return (0,) if batch_axis_only else (0, *range(2, x.ndim))


def _per_channel(v: Array, x: Array) -> Array:
    """(C,) -> broadcastable against (N, C, ...)."""
    return v.reshape(1, -1, *[1] * (x.ndim - 2))


class Forward(NamedTuple):
    """One way of (mis)computing the train-mode forward."""

    ddof: int = 0  # 1: the unbiased variance Σ(x − mu)²/(m − 1)
    eps_factor: float = 1.0  # 2: eps added twice; 0: no eps
    eps_outside: bool = False  # sqrt(var) + eps instead of sqrt(var + eps)
    batch_axis_only: bool = False  # statistics over axis 0 only (per (c, h, w) position)
    reshape_without_transpose: bool = False  # columns of x.reshape(-1, C): channels mixed


def wrong_forward(x: Array, gamma: Array, beta: Array, eps: float, how: Forward) -> Array:
    """y of a forward computed ``how`` says; complex-safe (no abs, no np.var, no conjugate)."""
    if how.reshape_without_transpose:
        # the memory of (N, C, H, W) read as (N·H·W, C) rows: no transpose to channels-last
        columns = x.reshape(-1, x.shape[1])
        flat = how._replace(reshape_without_transpose=False)
        return wrong_forward(columns, gamma, beta, eps, flat).reshape(x.shape)
    axes = _stat_axes(x, how.batch_axis_only)
    m = int(np.prod([x.shape[a] for a in axes]))
    mu = x.sum(axis=axes, keepdims=True) / m
    centred = x - mu
    var = (centred * centred).sum(axis=axes, keepdims=True) / (m - how.ddof)
    e = eps * how.eps_factor
    sd = np.sqrt(var) + e if how.eps_outside else np.sqrt(var + e)
    y: Array = _per_channel(gamma, x) * (centred / sd) + _per_channel(beta, x)
    return y


def _complex_step(loss: Callable[[Array], Any], at: Array) -> NDArray[np.float64]:
    """Gradient of a real-analytic scalar function, one complex step per entry."""
    z = np.asarray(at, dtype=np.complex128)
    grad = np.empty(z.shape)
    for i in range(z.size):
        bumped = z.copy()
        bumped.flat[i] += 1j * STEP
        grad.flat[i] = float(np.imag(loss(bumped))) / STEP
    return grad


def _differentiated(how: Forward) -> Reference:
    """The wrong forward ``how`` with its exact gradients (J = Σ dy·y), by the complex step."""

    def outputs(x: Array, gamma: Array, beta: Array, dy: Array, eps: float) -> Outputs:
        def j(xv: Array, gv: Array, bv: Array) -> Any:
            return np.sum(dy * wrong_forward(xv, gv, bv, eps, how))

        return {
            "y": np.real(wrong_forward(x, gamma, beta, eps, how)).astype(np.float64),
            "dx": _complex_step(lambda xv: j(xv, gamma, beta), x),
            "dgamma": _complex_step(lambda gv: j(x, gv, beta), gamma),
            "dbeta": _complex_step(lambda bv: j(x, gamma, bv), beta),
        }

    return outputs


class Backward(NamedTuple):
    """One way of (mis)applying the staged chain rule of the source paper."""

    mu_path: bool = True  # dx gets dJ/dmu_B · dmu_B/dx_i
    var_path: bool = True  # dx gets dJ/dsigma2_B · dsigma2_B/dx_i
    sum_over_batch_in_dmu: bool = True  # dJ/dmu_B sums over i (eq 18 as printed does not)
    gamma_in_dx: bool = True  # dJ/dx_hat = dy·gamma
    dgamma_of_x_hat: bool = True  # dgamma = Σ dy·x_hat (False: Σ dy·(x − mu))
    dbeta_is_sum: bool = True  # dbeta = Σ dy (False: mean(dy))


def staged(x: Array, gamma: Array, beta: Array, dy: Array, eps: float, how: Backward) -> Outputs:
    """The correct forward and the staged backward, with the steps ``how`` changes."""
    axes = _stat_axes(x)
    m = x.size // x.shape[1]

    def total(a: Array) -> Array:
        out: Array = np.sum(a, axis=axes, keepdims=True)
        return out

    mu = total(x) / m
    centred = x - mu
    var = total(centred**2) / m
    std = np.sqrt(var + eps)
    x_hat = centred / std
    g = _per_channel(gamma, x)
    dx_hat = dy * g if how.gamma_in_dx else dy
    dvar = total(dx_hat * centred) * -0.5 * std**-3
    dmu_terms = -dx_hat / std
    dmu = total(dmu_terms) if how.sum_over_batch_in_dmu else dmu_terms
    dmu = dmu + dvar * total(-2.0 * centred) / m
    dx = dx_hat / std
    if how.var_path:
        dx = dx + dvar * 2.0 * centred / m
    if how.mu_path:
        dx = dx + dmu / m
    dgamma = (dy * (x_hat if how.dgamma_of_x_hat else centred)).sum(axis=axes)
    dbeta = dy.sum(axis=axes) / (1 if how.dbeta_is_sum else m)
    y: NDArray[np.float64] = g * x_hat + _per_channel(beta, x)
    return {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _staged(how: Backward) -> Reference:
    def outputs(x: Array, gamma: Array, beta: Array, dy: Array, eps: float) -> Outputs:
        return staged(x, gamma, beta, dy, eps, how)

    return outputs


def correct(x: Array, gamma: Array, beta: Array, dy: Array, eps: float) -> Outputs:
    """The right BN (the staged chain rule unchanged)."""
    return staged(x, gamma, beta, dy, eps, Backward())


#: catalogue id -> the independent wrong implementation (its description in the comment)
REFERENCES: dict[str, Reference] = {
    # dx lacks the path through mu_B (the −Σdy/m term)
    "missing-mu-path": _staged(Backward(mu_path=False)),
    # dx lacks the path through sigma2_B
    "missing-var-path": _staged(Backward(var_path=False)),
    # dJ/dmu_B without the sum over i (the source's eq 18 as printed)
    "missing-sum-dmu": _staged(Backward(sum_over_batch_in_dmu=False)),
    # normalizes by sqrt(var) + eps instead of sqrt(var + eps)
    "eps-outside-sqrt": _differentiated(Forward(eps_outside=True)),
    # normalizes with the unbiased variance Σ(x − mu)²/(m − 1)
    "unbiased-normalize": _differentiated(Forward(ddof=1)),
    # eps added twice (sqrt(var + 2·eps))
    "eps-twice": _differentiated(Forward(eps_factor=2.0)),
    # dgamma = Σ dy·(x − mu), not normalized
    "dgamma-from-xc": _staged(Backward(dgamma_of_x_hat=False)),
    # dbeta = mean(dy) instead of Σ dy
    "dbeta-mean": _staged(Backward(dbeta_is_sum=False)),
    # dx lacks the factor gamma
    "missing-gamma": _staged(Backward(gamma_in_dx=False)),
    # (N, C, H, W) reduced over N only, not over N, H and W
    "wrong-axes": _differentiated(Forward(batch_axis_only=True)),
    # normalizes by sqrt(var) with no eps
    "eps-missing": _differentiated(Forward(eps_factor=0.0)),
    # (N, C, H, W) reshaped to (N·H·W, C) without moving the channel axis last first
    "reshape-without-transpose": _differentiated(Forward(reshape_without_transpose=True)),
}
