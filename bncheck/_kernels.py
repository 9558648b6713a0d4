"""Accurate per-channel kernels behind bncheck.batchnorm: pairwise sums and a cancellation-free
backward for tiny batches.

Pairwise sums. ``np.sum`` over a C-contiguous array's *leading* axis adds row after row
(recursive summation: error up to (m − 1)·u·Σ|a|, typically ~u·√m·... growing with m), while
along a contiguous axis it sums pairwise. :func:`channel_sum` reduces the axes behind the
channel axis with ``np.sum`` (contiguous: pairwise) and the leading ones by halving — add the
second half of the rows to the first, repeat — so every term goes through at most
⌈log2 m⌉ + 7 additions: error <= (log2 m + 7)·u·Σ|a| instead of m·u·Σ|a|, at the cost of about
one more pass over the data.

Cancellation. With d = dy − mean(dy), u_hat = (x − mu)/||x − mu|| and rho = var/(var + eps),
the backward is dx = gamma·inv_std·(d − rho·u_hat·<u_hat, d>). When dy is nearly parallel to
x_hat — always so for m = 2, where the centred subspace is one-dimensional — the bracket
cancels down to (1 − rho)·u_hat·<u_hat, d> = eps/(var + eps)·…, and the usual formula returns
rounding noise of size u·|dy| instead. :func:`projected_dx` splits d into its part orthogonal to
u_hat (projected out twice: "twice is enough", Kahan/Parlett) and its part along u_hat, whose
factor 1 − rho = eps/(var + eps) it computes without subtraction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

__all__ = ["channel_sum", "expand", "projected_dx"]


def expand(v: NDArray[Any], ndim: int, axis: int) -> NDArray[Any]:
    """Reshape a per-channel vector (C,) to broadcast against an ndim array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _halving_sum(rows: NDArray[Any]) -> F64:
    """Σ over axis 0 of an (L, C) array by repeated halving, in float64."""
    a: NDArray[Any] = rows
    if a.shape[0] == 0:
        return np.zeros(a.shape[1])
    while a.shape[0] > 1:
        length = a.shape[0]
        half = length // 2
        s = np.add(a[:half], a[half : 2 * half], dtype=np.float64)
        if length % 2:
            s[0] += a[length - 1]
        a = s
    return np.asarray(a[0], dtype=np.float64)


def channel_sum(a: NDArray[Any], axis: int) -> F64:
    """Σ of ``a`` over every axis but ``axis``, per channel, pairwise, accumulated in float64."""
    trailing = tuple(range(axis + 1, a.ndim))
    b = np.sum(a, axis=trailing, dtype=np.float64) if trailing else a
    # the channel axis is now the last one
    return _halving_sum(b.reshape(-1, b.shape[-1]))


def projected_dx(dy: NDArray[Any], xc: F64, var: F64, eps: float, scale: F64, axis: int) -> F64:
    """dx = scale·(d − rho·u_hat·<u_hat, d>) without cancellation (see the module docstring).

    ``xc`` is x − mu (float64), ``var`` the biased batch variance, ``scale`` = gamma·inv_std
    per channel. About twelve passes over the data: used only when the direct formula cancels.
    """
    ndim = xc.ndim
    m = xc.size // xc.shape[axis]

    def mean(a: NDArray[Any]) -> NDArray[Any]:
        return expand(channel_sum(a, axis) / m, ndim, axis)

    def along(u: F64, v: F64) -> NDArray[Any]:
        return expand(channel_sum(u * v, axis), ndim, axis)

    d = np.asarray(dy, dtype=np.float64) - mean(dy)
    d -= mean(d)  # the first mean's rounding, removed
    norm = np.sqrt(channel_sum(xc * xc, axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        u_hat = xc / expand(norm, ndim, axis)
    u_hat = np.nan_to_num(u_hat, nan=0.0, posinf=0.0, neginf=0.0)  # a constant channel
    a = along(u_hat, d)
    perp = d - u_hat * a
    perp -= mean(perp)
    b = along(u_hat, perp)
    perp -= u_hat * b
    one_minus_rho = eps / (var + eps)
    perp += u_hat * ((a + b) * expand(one_minus_rho, ndim, axis))
    perp *= expand(scale, ndim, axis)
    out: F64 = perp
    return out
