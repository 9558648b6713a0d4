"""RMSNorm over the last axis, NumPy functions."""

import numpy as np


def rmsnorm_forward(x, gamma, eps=1e-6):
    rms = np.sqrt((x * x).mean(axis=-1, keepdims=True))
    r = 1.0 / (rms + eps)
    xhat = x * r
    return (xhat * gamma).astype(x.dtype), (x, rms, r, gamma)


def rmsnorm_backward(dy, cache):
    x, rms, r, gamma = cache
    dgamma = (dy * x * r).sum(axis=tuple(range(dy.ndim - 1)))
    g = dy * gamma
    D = x.shape[-1]
    # d r / d x_j = -r^2 * x_j / (D * rms)
    dx = g * r - x * (r * r / (D * rms)) * (g * x).sum(-1, keepdims=True)
    return dx.astype(dy.dtype), dgamma.astype(gamma.dtype)
