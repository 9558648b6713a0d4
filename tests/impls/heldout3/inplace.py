"""HOSTILE: ``forward(x, gamma, beta, eps)`` that saves memory by normalising x in place
(``x -= mean; x /= std``), so the caller's array is overwritten with x_hat. The values it
returns, and its backward, are right.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    std = np.sqrt(var + eps)
    x -= mean
    x /= std
    out = gamma.reshape(shape) * x + beta.reshape(shape)
    return out, (x, std, gamma, axes, shape)


def backward(dout, cache):
    x_hat, std, gamma, axes, shape = cache
    dgamma = (dout * x_hat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    g = dout * gamma.reshape(shape)
    dx = (
        g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    ) / std
    return dx, dgamma, dbeta
