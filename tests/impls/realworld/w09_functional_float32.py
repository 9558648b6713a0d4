"""Functional BN, ``forward(x, gamma, beta, eps)`` / ``backward(dy, cache)``, that casts
everything to float32 "for speed" and casts the results back to the input's dtype.

WRONG (one mistake): float32 arithmetic for float64 input (results carry float32 rounding
errors). For float32 input it is right. Stateless. (N, C) and (N, C, H, W).
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    dtype = x.dtype
    x = x.astype(np.float32)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    g = np.asarray(gamma, dtype=np.float32).reshape(shape)
    b = np.asarray(beta, dtype=np.float32).reshape(shape)
    axes = (0, *range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = np.float32(1.0) / np.sqrt(var + np.float32(eps))
    x_hat = (x - mu) * inv_std
    y = g * x_hat + b
    return y.astype(dtype), (x_hat, inv_std, g, axes, dtype)


def backward(dy, cache):
    x_hat, inv_std, g, axes, dtype = cache
    dy = dy.astype(np.float32)
    m = np.float32(x_hat.size // x_hat.shape[1])
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    s1 = dy.sum(axis=axes, keepdims=True)
    s2 = (dy * x_hat).sum(axis=axes, keepdims=True)
    dx = g * inv_std / m * (m * dy - s1 - x_hat * s2)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
