"""Batch normalization as a cs231n-style function pair, any rank 2-5, channels on axis 1,
in float64 and rounded once; the cache keeps gamma as it was passed (a reshaped view):

    batchnorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the backward builds the per-channel factor gamma / std with `scale =
cache["gamma"]; scale *= cache["ivar"]`, which scales the CALLER'S gamma in place (the
optimizer then steps a corrupted weight, the next forward uses it, and a second backward from
the same cache scales it again). The numbers of that first backward are right.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mu) * ivar
    g = gamma.reshape(shape)
    out = g * xhat + beta.reshape(shape)
    cache = {"xhat": xhat, "ivar": ivar, "gamma": g, "dtype": x.dtype}
    return out.astype(x.dtype), cache


def batchnorm_backward(dout, cache):
    axes = (0, *range(2, dout.ndim))
    shape = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
    m = dout.size // dout.shape[1]
    xhat = cache["xhat"]
    d = dout.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    scale = cache["gamma"]
    scale *= cache["ivar"]
    dx = scale * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    dt = cache["dtype"]
    return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)
