"""HOSTILE: ``forward(x, gamma, beta, eps)`` / ``backward(dout, cache)`` that flattens the
spatial axes to (N, C, H*W) and forgets to reshape back: for 4-D input y and dx come back
with shape (N, C, H*W). The values are right, and 2-D input is entirely right.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    n, c = x.shape[:2]
    v = x.reshape(n, c, -1)
    mu = v.mean(axis=(0, 2), keepdims=True)
    var = v.var(axis=(0, 2), keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (v - mu) * inv
    y = xh * gamma[None, :, None] + beta[None, :, None]
    if x.ndim == 2:
        y = y[:, :, 0]
    return y, (xh, inv, gamma, x.ndim)


def backward(dout, cache):
    xh, inv, gamma, ndim = cache
    n, c = dout.shape[:2]
    d = dout.reshape(n, c, -1)
    dgamma = (d * xh).sum(axis=(0, 2))
    dbeta = d.sum(axis=(0, 2))
    g = d * gamma[None, :, None]
    dx = inv * (
        g - g.mean(axis=(0, 2), keepdims=True) - xh * (g * xh).mean(axis=(0, 2), keepdims=True)
    )
    if ndim == 2:
        dx = dx[:, :, 0]
    return dx, dgamma, dbeta
