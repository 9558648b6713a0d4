"""Functional batch norm whose cache is a primed coroutine: backward sends dout into it."""
import numpy as np


def _grads(xhat, rstd, gamma, axes, bshape):
    dout = yield
    while True:
        dgamma = (dout * xhat).sum(axis=axes)
        dbeta = dout.sum(axis=axes)
        m = xhat.size // xhat.shape[1]
        dx = (gamma.reshape(bshape) * rstd / m) * (
            m * dout - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
        dout = yield dx, dgamma, dbeta


def forward(x, gamma, beta, eps=1e-5):
    axes = tuple(a for a in range(x.ndim) if a != 1)
    bshape = tuple(-1 if a == 1 else 1 for a in range(x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    cache = _grads(xhat, rstd, gamma, axes, bshape)
    next(cache)
    return out, cache


def backward(dout, cache):
    return cache.send(dout)
