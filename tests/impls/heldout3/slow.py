"""HOSTILE: a right ``forward(x, gamma, beta, eps)`` / ``backward(dout, cache)`` that sleeps
15 s in the forward whenever x has more than 100,000 values (say, a debugging hook left on),
past verify's default 10 s per call.
"""

import time

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    if x.size > 100_000:
        time.sleep(15)
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (x - mean) * inv
    return gamma.reshape(shape) * xh + beta.reshape(shape), (xh, inv, gamma, axes, shape)


def backward(dout, cache):
    xh, inv, gamma, axes, shape = cache
    dgamma = (dout * xh).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    g = dout * gamma.reshape(shape)
    dx = inv * (g - g.mean(axis=axes, keepdims=True) - xh * (g * xh).mean(axis=axes, keepdims=True))
    return dx, dgamma, dbeta
