"""Batch normalization as a cs231n-style function pair, any rank 2-5, channels on axis 1,
in float64, rounded once:

    batchnorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)

The cache keeps the centred input and 1/std, and the backward forms x_hat from them.

ONE PLANTED BUG: the backward forms x_hat IN PLACE in the cached centred input (`xhat = xmu;
xhat *= ivar`), so the cache no longer holds what the forward left: a second backward from
the same cache (two losses, gradient checking, a retained graph) scales it again and is
wrong. The first backward from each cache is right.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xmu = xd - mu
    var = (xmu**2).mean(axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    g = np.array(gamma, dtype=np.float64).reshape(shape)
    b = np.array(beta, dtype=np.float64).reshape(shape)
    out = g * (xmu * ivar) + b
    cache = {"xmu": xmu, "ivar": ivar, "gamma": g, "dtype": x.dtype}
    return out.astype(x.dtype), cache


def batchnorm_backward(dout, cache):
    axes = (0, *range(2, dout.ndim))
    shape = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
    m = dout.size // dout.shape[1]
    xhat = cache["xmu"]
    xhat *= cache["ivar"]
    d = dout.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = (
        cache["gamma"]
        * cache["ivar"]
        * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    )
    dt = cache["dtype"]
    return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)
