"""Channels-last GroupNorm in NumPy: x is (N, ..., C), channels split into G contiguous groups."""

import numpy as np


def gn_nhwc_forward(x, gamma, beta, G, eps=1e-5):
    n, c = x.shape[0], x.shape[-1]
    xf = x.astype(np.float64).reshape(n, -1, G, c // G)
    mu = xf.mean(axis=(1, 3), keepdims=True)
    xc = xf - mu
    var = (xc * xc).mean(axis=(1, 3), keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (xc * inv).reshape(x.shape)
    y = xhat * gamma.astype(np.float64) + beta.astype(np.float64)
    return y.astype(x.dtype), (xhat, inv, gamma, G, x.dtype)


def gn_nhwc_backward(dy, cache):
    xhat, inv, gamma, G, xdt = cache
    g = dy.astype(np.float64)
    red = tuple(range(g.ndim - 1))
    dgamma = (g * xhat).sum(axis=red)
    dbeta = g.sum(axis=red)
    n, c = g.shape[0], g.shape[-1]
    gx = (g * gamma.astype(np.float64)).reshape(n, -1, G, c // G)
    xh = xhat.reshape(n, -1, G, c // G)
    m = gx.shape[1] * gx.shape[3]
    s1 = gx.sum(axis=(1, 3), keepdims=True)
    s2 = (gx * xh).sum(axis=(1, 3), keepdims=True)
    dx = inv * (gx - s1 / m - xh * s2 / m)
    return dx.reshape(g.shape).astype(xdt), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
