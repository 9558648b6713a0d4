"""LayerNorm over the last two axes (H, W) with an (H, W) gamma and beta."""

import numpy as np


def layernorm2d_forward(x, gamma, beta, eps=1e-5):
    ax = (-2, -1)
    mu = x.mean(axis=ax, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=ax, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    return (xhat * gamma + beta).astype(x.dtype), (xhat, rstd, gamma)


def layernorm2d_backward(dy, cache):
    xhat, rstd, gamma = cache
    ax = (-2, -1)
    red = tuple(range(dy.ndim - 2))
    dgamma = (dy * xhat).sum(axis=red)
    dbeta = dy.sum(axis=red)
    g = dy * gamma
    dx = rstd * (g - g.mean(ax, keepdims=True) - xhat * (g * xhat).mean(ax, keepdims=True))
    return dx.astype(dy.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
