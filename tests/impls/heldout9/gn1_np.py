"""GroupNorm with a single group (each sample normalized over all of C, H, W), per-channel affine.

gamma and beta may be (C,) or (1, C, 1, 1); the gradients come back in their shape.
"""

import numpy as np


def gn1_forward(x, gamma, beta, eps=1e-5):
    axes = tuple(range(1, x.ndim))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    y = xhat * np.reshape(gamma, bs) + np.reshape(beta, bs)
    return y, (xhat, rstd, gamma)


def gn1_backward(dout, cache):
    xhat, rstd, gamma = cache
    per_sample = tuple(range(1, dout.ndim))
    per_channel = (0,) + tuple(range(2, dout.ndim))
    bs = (1, -1) + (1,) * (dout.ndim - 2)
    dbeta = dout.sum(axis=per_channel).reshape(np.shape(gamma))
    dgamma = (dout * xhat).sum(axis=per_channel).reshape(np.shape(gamma))
    g = dout * np.reshape(gamma, bs)
    dx = rstd * (g - g.mean(axis=per_sample, keepdims=True) - xhat * (g * xhat).mean(axis=per_sample, keepdims=True))
    return dx, dgamma, dbeta
