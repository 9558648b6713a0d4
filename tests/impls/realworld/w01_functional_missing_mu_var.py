"""Functional BN, ``forward(x, gamma, beta, eps)`` / ``backward(dy, cache)``, whose backward
treats the batch statistics as constants: ``dx = gamma * dy / np.sqrt(var + eps)``.

WRONG (one mistake): dx lacks both the path through mu_B and the path through sigma²_B.
Forward, dgamma and dbeta are right. (N, C) and (N, C, H, W).
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, (x_hat, var, eps, gamma.reshape(shape), axes)


def backward(dy, cache):
    x_hat, var, eps, gamma, axes = cache
    dgamma = np.sum(dy * x_hat, axis=axes)
    dbeta = np.sum(dy, axis=axes)
    dx = gamma * dy / np.sqrt(var + eps)
    return dx, dgamma, dbeta
