"""Other ways to write BN, for the reports and benchmarks to compare bncheck against.

- ``staged``: the source document's chain rule, step by step (eqs (6)–(9) forward, (11)–(21)
  backward with the sums where they belong), computing in the input dtype with NumPy's own
  reductions. This is what most hand-written BNs look like.
- ``onepass``: the "fast variance" var = E[x²] − E[x]² of one pass over the data (Flax's
  ``use_fast_variance`` and Keras' synchronized BN), otherwise like ``staged``. It cancels
  catastrophically when |mean| >> spread.

Both take (N, C, ...) with the channel axis 1. They are correct formulas, differing from bncheck
only in numerics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["IMPLEMENTATIONS", "onepass_forward", "staged_backward", "staged_forward"]

Array = NDArray[Any]


def _axes(x: Array) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _per_channel(v: Array, x: Array) -> Array:
    return v.reshape(1, -1, *[1] * (x.ndim - 2)).astype(x.dtype)


def staged_forward(x: Array, gamma: Array, beta: Array, eps: float) -> tuple[Array, Any]:
    """mu (6), var (7), x_hat (8), y (9), each a separate array in x's dtype."""
    ax = _axes(x)
    dt = x.dtype.type
    mu = x.mean(axis=ax, keepdims=True)  # (6)
    xc = x - mu
    var = (xc * xc).mean(axis=ax, keepdims=True)  # (7)
    std = np.sqrt(var + dt(eps))
    x_hat = xc / std  # (8)
    y = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)  # (9)
    return y, (xc, var, std, x_hat, gamma, dt(eps))


def onepass_forward(x: Array, gamma: Array, beta: Array, eps: float) -> tuple[Array, Any]:
    """var = E[x²] − E[x]² (clamped at 0, as the frameworks do), otherwise as staged."""
    ax = _axes(x)
    dt = x.dtype.type
    mu = x.mean(axis=ax, keepdims=True)
    var = np.maximum((x * x).mean(axis=ax, keepdims=True) - mu * mu, dt(0))
    xc = x - mu
    std = np.sqrt(var + dt(eps))
    x_hat = xc / std
    y = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
    return y, (xc, var, std, x_hat, gamma, dt(eps))


def staged_backward(dy: Array, cache: Any) -> tuple[Array, Array, Array]:
    """The chain rule through n_i, sigma2_B and mu_B (eqs (11)–(21), sums included)."""
    xc, var, std, x_hat, gamma, eps = cache
    ax = _axes(dy)
    dt = dy.dtype.type
    m = dt(dy.size // dy.shape[1])
    dbeta = dy.sum(axis=ax)  # (12)
    dgamma = (dy * x_hat).sum(axis=ax)  # (11)
    dn = dy * _per_channel(gamma, dy)  # (14)
    dvar = (dn * xc).sum(axis=ax, keepdims=True) * dt(-0.5) * (var + eps) ** dt(-1.5)  # (16)
    dmu = -(dn / std).sum(axis=ax, keepdims=True) + dvar * (dt(-2) * xc).mean(
        axis=ax, keepdims=True
    )  # (18) with the sum over i
    dx = dn / std + dvar * dt(2) * xc / m + dmu / m  # (13)
    return dx, dgamma, dbeta


#: name -> (forward, backward), each taking and returning arrays in the input dtype
IMPLEMENTATIONS: dict[str, tuple[Any, Any]] = {
    "naive staged": (staged_forward, staged_backward),
    "one-pass E[x²]−E[x]²": (onepass_forward, staged_backward),
}
