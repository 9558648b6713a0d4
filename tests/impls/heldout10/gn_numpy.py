"""GroupNorm for (N, C, ...) in NumPy, groups of consecutive channels."""

import numpy as np


def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    N, C = x.shape[:2]
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    xc = xg - mu
    var = (xc**2).mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (xc * rstd).reshape(x.shape)
    pshape = (1, C) + (1,) * (x.ndim - 2)
    y = xhat * gamma.reshape(pshape) + beta.reshape(pshape)
    return y.astype(x.dtype), (xhat, rstd, gamma, G)


def groupnorm_backward(dy, cache):
    xhat, rstd, gamma, G = cache
    N, C = dy.shape[:2]
    red = (0,) + tuple(range(2, dy.ndim))
    dgamma = (dy * xhat).sum(axis=red)
    dbeta = dy.sum(axis=red)
    pshape = (1, C) + (1,) * (dy.ndim - 2)
    g = (dy * gamma.reshape(pshape)).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    dx = rstd * (g - g.mean(2, keepdims=True) - xh * (g * xh).mean(2, keepdims=True))
    return dx.reshape(dy.shape).astype(dy.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
