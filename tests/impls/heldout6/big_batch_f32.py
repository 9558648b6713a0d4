"""Batch norm with a "memory saving" path for large batches.
BUG: above 8192 values per channel the statistics are computed in float32 whatever the input
dtype, so float64 input gets float32-sized errors there; smaller batches are exact."""

import numpy as np

_BIG = 8192


def big_forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    sh = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    work = np.float32 if m > _BIG else np.float64  # BUG
    xs = x.astype(work)
    mu = xs.mean(axis=axes, dtype=work)
    var = ((xs - mu.reshape(sh)) ** 2).mean(axis=axes, dtype=work)
    mu, var = mu.astype(np.float64), var.astype(np.float64)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x.astype(np.float64) - mu.reshape(sh)) * inv.reshape(sh)
    out = gamma.reshape(sh) * xhat + beta.reshape(sh)
    return out.astype(x.dtype), (xhat, inv, gamma, axes, sh)


def big_backward(dout, cache):
    xhat, inv, gamma, axes, sh = cache
    g = dout.astype(np.float64)
    m = g.size // g.shape[1]
    dbeta = g.sum(axis=axes)
    dgamma = (g * xhat).sum(axis=axes)
    dx = (gamma * inv / m).reshape(sh) * (m * g - dbeta.reshape(sh) - xhat * dgamma.reshape(sh))
    return dx.astype(dout.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
