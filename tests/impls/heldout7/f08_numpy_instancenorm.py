"""Functional instance norm for (N, C, ...) inputs in NumPy with per-channel affine,
forward/backward pair with a cache, as in from-scratch style-transfer code. Correct.
"""

import numpy as np


def instancenorm_forward(x, gamma, beta, eps=1e-5):
    if x.ndim < 3:
        raise ValueError(f"expected (N, C, ...) input with spatial axes, got shape {x.shape}")
    axes = tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return y, (xhat, rstd, gamma.reshape(shape), axes)


def instancenorm_backward(dy, cache):
    xhat, rstd, g, axes = cache
    red = (0,) + axes
    dgamma = (dy * xhat).sum(axis=red)
    dbeta = dy.sum(axis=red)
    dxhat = dy * g
    dx = rstd * (
        dxhat
        - dxhat.mean(axis=axes, keepdims=True)
        - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
    )
    return dx, dgamma, dbeta
