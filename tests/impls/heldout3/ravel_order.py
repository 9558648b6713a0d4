"""``bn_forward(x, gamma, beta, eps)`` / ``bn_backward(dy, cache)`` that flattens the spatial
axes "without a copy" with ``np.ravel(..., order="K")`` and works on an (N, C, L) view.

PLANTED MISTAKE: ``order="K"`` reads the elements in memory order, which is only the logical
(C) order for C-contiguous arrays; for a Fortran-ordered, transposed or negative-stride input
(or dy) the (N, C, L) view mixes channels and samples. Right on C-contiguous arrays.
"""

import numpy as np


def _as_ncl(a):
    return np.ravel(a, order="K").reshape(a.shape[0], a.shape[1], -1)


def bn_forward(x, gamma, beta, eps=1e-5):
    v = _as_ncl(x)
    mu = v.mean(axis=(0, 2), keepdims=True)
    var = ((v - mu) ** 2).mean(axis=(0, 2), keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (v - mu) * inv
    y = xh * gamma[None, :, None] + beta[None, :, None]
    return y.reshape(x.shape), (xh, inv, gamma)


def bn_backward(dy, cache):
    xh, inv, gamma = cache
    d = _as_ncl(dy)
    dgamma = (d * xh).sum(axis=(0, 2))
    dbeta = d.sum(axis=(0, 2))
    g = d * gamma[None, :, None]
    dx = inv * (
        g - g.mean(axis=(0, 2), keepdims=True) - xh * (g * xh).mean(axis=(0, 2), keepdims=True)
    )
    return dx.reshape(dy.shape), dgamma, dbeta
