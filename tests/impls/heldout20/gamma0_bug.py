"""Batch normalization as a functional pair that saves memory the In-Place-ABN way: the
forward keeps no x and no x_hat, only z = gamma * x_hat (the output before the shift) with
gamma and 1/std, and the backward recovers x_hat = z / gamma. Any rank 2-5, channels on
axis 1; computed in float64, rounded once.

    iabn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)
    iabn_backward(dy, cache) -> (dx, dgamma, dbeta)
"""

import numpy as np


def _geometry(x):
    axes = (0, *tuple(range(2, x.ndim)))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape, x.size // x.shape[1]


def iabn_forward(x, gamma, beta, eps=1e-5):
    axes, shape, _m = _geometry(x)
    xd = x.astype(np.float64)
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    b = np.asarray(beta, dtype=np.float64).reshape(shape)
    mean = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mean) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    z = g * ((xd - mean) * inv_std)
    y = z + b
    return y.astype(x.dtype), (z, g, inv_std, x.dtype)


def iabn_backward(dy, cache):
    z, g, inv_std, dtype = cache
    axes, shape, m = _geometry(dy)
    d = dy.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_hat = z / g
    dbeta = d.sum(axis=axes)
    dgamma = (d * x_hat).sum(axis=axes)
    dx = g * inv_std * (d - (dbeta.reshape(shape) + x_hat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
