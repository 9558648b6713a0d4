"""Batch norm forward returning a named tuple (out, cache); the normalized input is written
into a reusable workspace buffer (one per shape/dtype) to avoid allocations."""
from collections import namedtuple

import numpy as np

BNOut = namedtuple("BNOut", ["out", "cache"])
BNGrads = namedtuple("BNGrads", ["dx", "dgamma", "dbeta"])

_workspace = {}


def _buffer(shape, dtype):
    key = (tuple(shape), np.dtype(dtype).str)
    buf = _workspace.get(key)
    if buf is None:
        buf = _workspace[key] = np.empty(shape, dtype=dtype)
    return buf


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = _buffer(x.shape, x.dtype)
    np.subtract(x, mean, out=xhat)
    xhat *= rstd
    g = gamma.reshape(shp)
    out = xhat * g + beta.reshape(shp)
    return BNOut(out, (xhat, rstd, g, axes))


def batchnorm_backward(dout, cache):
    xhat, rstd, g, axes = cache
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = dout * g
    dx = rstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    return BNGrads(dx, dgamma, dbeta)
