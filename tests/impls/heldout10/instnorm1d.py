"""InstanceNorm for (N, C, L): each (sample, channel) row normalized over L."""

import numpy as np


def instancenorm_forward(x, gamma, beta, eps=1e-5):
    if x.ndim != 3:
        raise ValueError(f"expected 3D input (N, C, L), got {x.ndim}D")
    mu = x.mean(axis=2, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = xhat * gamma[None, :, None] + beta[None, :, None]
    return y.astype(x.dtype), (xhat, rstd, gamma)


def instancenorm_backward(dy, cache):
    xhat, rstd, gamma = cache
    dgamma = (dy * xhat).sum(axis=(0, 2))
    dbeta = dy.sum(axis=(0, 2))
    g = dy * gamma[None, :, None]
    dx = rstd * (g - g.mean(2, keepdims=True) - xhat * (g * xhat).mean(2, keepdims=True))
    return dx.astype(dy.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
