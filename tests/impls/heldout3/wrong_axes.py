"""The classic ``forward(x, gamma, beta, eps)`` / ``backward(dout, cache)`` pair, written for
(N, C) and "extended" to (N, C, H, W) by broadcasting gamma and beta over H and W.

PLANTED MISTAKE: the statistics are always taken over axis 0 only, so for 4-D input every
(c, h, w) position gets its own mean and variance instead of one per channel over (N, H, W).
Right for 2-D input. The backward is the exact gradient of that forward.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    std = np.sqrt(var + eps)
    x_norm = (x - mean) / std
    out = x_norm * gamma.reshape(shape) + beta.reshape(shape)
    return out, (x_norm, std, gamma, shape)


def backward(dout, cache):
    x_norm, std, gamma, shape = cache
    red = (0, *range(2, dout.ndim))
    dgamma = (dout * x_norm).sum(axis=red)
    dbeta = dout.sum(axis=red)
    dxn = dout * gamma.reshape(shape)
    dx = (dxn - dxn.mean(axis=0) - x_norm * (dxn * x_norm).mean(axis=0)) / std
    return dx, dgamma, dbeta
