"""Functional BN, ``forward(x, gamma, beta, eps)`` / ``backward(dy, cache)``, written for dense
layers (statistics over axis 0) and extended to conv feature maps by only reshaping gamma and
beta to (1, C, 1, 1) and summing their gradients over (0, 2, 3): for (N, C, H, W) input the mean
and variance are still taken over N alone, one pair per (c, h, w) position.

WRONG (one mistake, 4-D only): a spatial BN that reduces over N only, not over N, H and W.
Right for (N, C) input. Stateless.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    sum_axes = (0, *range(2, x.ndim))
    mu = np.mean(x, axis=0, keepdims=True)
    var = np.var(x, axis=0, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, (x_hat, std, gamma.reshape(shape), sum_axes)


def backward(dy, cache):
    x_hat, std, g, sum_axes = cache
    N = dy.shape[0]
    dgamma = np.sum(dy * x_hat, axis=sum_axes)
    dbeta = np.sum(dy, axis=sum_axes)
    dx_hat = dy * g
    dx = (
        N * dx_hat
        - np.sum(dx_hat, axis=0, keepdims=True)
        - x_hat * np.sum(dx_hat * x_hat, axis=0, keepdims=True)
    ) / (N * std)
    return dx, dgamma, dbeta
