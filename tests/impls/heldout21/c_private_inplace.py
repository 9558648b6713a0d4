"""Batch normalization as a memory-frugal function pair, any rank 2-5, channels on axis 1:
every in-place step works on the pair's OWN float64 copies (x and dy are copied once,
`np.array(..., dtype=float64)`, which also takes read-only, broadcast and strided arrays), the
cache is never written by the backward, and each result is a fresh array rounded once.

    bn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)
    bn_backward(dy, cache) -> (dx, dgamma, dbeta)

Correct: the control of rows 5-8 (a backward may be called twice from one cache).
"""

import numpy as np


def _geom(a):
    axes = (0, *range(2, a.ndim))
    shape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
    return axes, shape, a.size // a.shape[1]


def bn_forward(x, gamma, beta, eps=1e-5):
    axes, shape, _ = _geom(x)
    buf = np.array(x, dtype=np.float64)  # our copy: free to overwrite
    mu = buf.mean(axis=axes, keepdims=True)
    buf -= mu
    var = np.square(buf).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    buf *= inv_std  # buf is x_hat now
    xhat = buf.copy()
    buf *= np.asarray(gamma, dtype=np.float64).reshape(shape)
    buf += np.asarray(beta, dtype=np.float64).reshape(shape)
    scale = np.asarray(gamma, dtype=np.float64).reshape(shape) * inv_std
    return buf.astype(x.dtype), (xhat, scale, x.dtype)


def bn_backward(dy, cache):
    xhat, scale, dtype = cache
    axes, shape, m = _geom(dy)
    buf = np.array(dy, dtype=np.float64)  # our copy
    dbeta = buf.sum(axis=axes)
    dgamma = (buf * xhat).sum(axis=axes)
    buf -= dbeta.reshape(shape) / m
    buf -= xhat * (dgamma.reshape(shape) / m)
    buf *= scale
    return buf.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
