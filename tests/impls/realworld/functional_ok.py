"""Functional BN in the from-scratch blog style: ``forward(x, gamma, beta, eps) -> (y, cache)``
and ``backward(dy, cache) -> (dx, dgamma, dbeta)``. Statistics over every axis except the
channel axis 1, so (N, C) and (N, C, H, W) both work.

Correct. Stateless: no running statistics.
"""

import numpy as np


def _reduce_axes(x):
    return (0, *range(2, x.ndim))


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def forward(x, gamma, beta, eps=1e-5):
    axes = _reduce_axes(x)
    g = np.reshape(gamma, _channel_shape(x))
    b = np.reshape(beta, _channel_shape(x))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    y = g * x_hat + b
    cache = (x_hat, inv_std, g, axes)
    return y, cache


def backward(dy, cache):
    x_hat, inv_std, g, axes = cache
    m = x_hat.size // x_hat.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    s1 = dy.sum(axis=axes, keepdims=True)
    s2 = (dy * x_hat).sum(axis=axes, keepdims=True)
    dx = (g * inv_std / m) * (m * dy - s1 - x_hat * s2)
    return dx, dgamma, dbeta
