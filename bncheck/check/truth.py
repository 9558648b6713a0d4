"""High-precision truth for Batch Normalization, evaluated with mpmath.

Every input value (float16/32/64) converts to an mpmath number exactly, the whole computation
runs with ``dps`` significant decimal digits (default 50, far beyond float64's 16), and each
result is rounded once to float64. This is the "truth" of docs/design.md (numerics policy):
errors of an implementation are measured against it, in the implementation's own dtype.

Loop-level and slow on purpose (about 10 µs per value): it follows equations (6)–(9) and the
closed-form gradients literally and shares no code with ``bncheck.bn.functional``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ExactBatchNorm", "exact_batchnorm", "exact_inference"]

F64 = NDArray[np.float64]


class ExactBatchNorm(NamedTuple):
    """Train-mode truth, rounded once to float64: outputs in x's layout, statistics (C,)."""

    y: F64
    dx: F64 | None
    dgamma: F64 | None
    dbeta: F64 | None
    mean: F64
    var: F64


def _as_columns(a: NDArray[Any], axis: int) -> NDArray[Any]:
    """(…, C, …) -> (m, C): channel axis last, the rest flattened."""
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _from_columns(cols: F64, shape: tuple[int, ...], axis: int) -> F64:
    moved_shape = (*tuple(np.delete(np.array(shape), axis)), shape[axis])
    return np.moveaxis(cols.reshape(moved_shape), -1, axis)


def _setup(
    x: ArrayLike, gamma: ArrayLike | None, beta: ArrayLike | None, axis: int
) -> tuple[NDArray[Any], int, NDArray[Any], NDArray[Any], NDArray[Any]]:
    """x as an array, the channel axis, x as (m, C) columns, gamma and beta (defaults 1, 0)."""
    xa = np.asarray(x)
    ax = axis % xa.ndim
    xc = _as_columns(xa, ax)
    c = xc.shape[1]
    g = np.ones(c) if gamma is None else np.asarray(gamma)
    b = np.zeros(c) if beta is None else np.asarray(beta)
    return xa, ax, xc, g, b


def _mp(v: Any) -> Any:
    return mpmath.mpf(float(v))  # exact: every float16/32/64 is a float64


def exact_batchnorm(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    dy: ArrayLike | None = None,
    *,
    eps: float = 1e-5,
    axis: int = 1,
    dps: int = 50,
) -> ExactBatchNorm:
    """The exact train-mode forward and, when ``dy`` is given, the exact backward.

    y_i = gamma (x_i − mu)/sqrt(var + eps) + beta with mu, var the batch mean and biased
    variance (eqs 6–9); dbeta = Σ dy, dgamma = Σ dy·x_hat,
    dx_i = gamma/sqrt(var + eps) · (dy_i − dbeta/m − x_hat_i · dgamma/m).
    """
    xa, ax, xc, g, b = _setup(x, gamma, beta, axis)
    m, c = xc.shape
    dyc = None if dy is None else _as_columns(np.asarray(dy), ax)
    y = np.empty((m, c))
    dx = np.empty((m, c))
    dgamma, dbeta, means, variances = (np.empty(c) for _ in range(4))
    with mpmath.workdps(dps):
        e = _mp(eps)
        for j in range(c):
            col = [_mp(v) for v in xc[:, j]]
            mu = mpmath.fsum(col) / m  # (6)
            var = mpmath.fsum((v - mu) ** 2 for v in col) / m  # (7)
            inv_std = 1 / mpmath.sqrt(var + e)
            x_hat = [(v - mu) * inv_std for v in col]  # (8)
            gj, bj = _mp(g[j]), _mp(b[j])
            y[:, j] = [float(gj * n + bj) for n in x_hat]  # (9)
            means[j], variances[j] = float(mu), float(var)
            if dyc is None:
                continue
            d = [_mp(v) for v in dyc[:, j]]
            s1 = mpmath.fsum(d)
            s2 = mpmath.fsum(di * n for di, n in zip(d, x_hat, strict=True))
            dbeta[j], dgamma[j] = float(s1), float(s2)
            scale = gj * inv_std
            dx[:, j] = [
                float(scale * (di - s1 / m - n * s2 / m)) for di, n in zip(d, x_hat, strict=True)
            ]
    has_dy = dyc is not None
    return ExactBatchNorm(
        _from_columns(y, xa.shape, ax),
        _from_columns(dx, xa.shape, ax) if has_dy else None,
        dgamma if has_dy and gamma is not None else None,
        dbeta if has_dy and beta is not None else None,
        means,
        variances,
    )


def exact_inference(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    eps: float = 1e-5,
    axis: int = 1,
    dps: int = 50,
) -> F64:
    """The exact eval-mode output gamma (x − running_mean)/sqrt(running_var + eps) + beta."""
    xa, ax, xc, g, b = _setup(x, gamma, beta, axis)
    m, c = xc.shape
    rm, rv = np.asarray(running_mean), np.asarray(running_var)
    y = np.empty((m, c))
    with mpmath.workdps(dps):
        e = _mp(eps)
        for j in range(c):
            scale = _mp(g[j]) / mpmath.sqrt(_mp(rv[j]) + e)
            mu, bj = _mp(rm[j]), _mp(b[j])
            y[:, j] = [float((_mp(v) - mu) * scale + bj) for v in xc[:, j]]
    return _from_columns(y, xa.shape, ax)
