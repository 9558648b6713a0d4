"""Batch normalization as a function pair that avoids copying its input, any rank 2-5,
channels on axis 1, in float64 and rounded once:

    bn_fwd(x, gamma, beta, eps=1e-5) -> (y, cache)
    bn_bwd(dy, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: to save a copy, the forward centres x in place (`astype(copy=False)` is x
itself for float64 input) and "puts it back" afterwards with `+= mean`. (x - m) + m is not x
in floating point, so a float64 input comes back changed in its last bits wherever the
subtraction rounded (float32 input is copied and left alone; a read-only float64 input makes
it raise). The returned numbers are right.
"""

import numpy as np


def bn_fwd(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xf = x.astype(np.float64, copy=False)
    mu = xf.mean(axis=axes, keepdims=True)
    xf -= mu
    var = (xf * xf).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xf * inv_std
    xf += mu  # restore the caller's array
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    b = np.asarray(beta, dtype=np.float64).reshape(shape)
    y = g * xhat + b
    return y.astype(x.dtype), (xhat, g * inv_std, x.dtype)


def bn_bwd(dy, cache):
    xhat, k, dtype = cache
    axes = (0, *range(2, dy.ndim))
    shape = (1, dy.shape[1]) + (1,) * (dy.ndim - 2)
    m = dy.size // dy.shape[1]
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
