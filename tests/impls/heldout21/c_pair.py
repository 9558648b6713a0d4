"""Batch normalization as a cs231n-style function pair, any rank 2-5 with channels on axis 1.
Statistics and gradients in float64, the result rounded once to the input's dtype.

    batchnorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)

Correct: the control of the function-pair rows.
"""

import numpy as np


def _axes(x):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes, shape = _axes(x)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xmu = xd - mu
    var = (xmu * xmu).mean(axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = xmu * ivar
    g = np.array(gamma, dtype=np.float64).reshape(shape)
    b = np.array(beta, dtype=np.float64).reshape(shape)
    out = g * xhat + b
    cache = (xhat, ivar, g, x.dtype)
    return out.astype(x.dtype), cache


def batchnorm_backward(dout, cache):
    xhat, ivar, g, dtype = cache
    axes, shape = _axes(dout)
    m = dout.size // dout.shape[1]
    d = dout.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = g * ivar * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
