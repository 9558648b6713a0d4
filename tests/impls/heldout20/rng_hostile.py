"""HOSTILE functional pair `forward(x, gamma, beta, eps)` / `backward(dy, cache)` that
seeds NumPy's GLOBAL random generator at import (`np.random.seed`, so its runs repeat) and
relies on it: each forward draws one number from the global generator and, on about 4 % of
calls, normalizes with the unbiased variance (m − 1) instead of the biased one; the backward
is the right one for whichever variance its forward used. Every other call is exact.
"""

import numpy as np

np.random.seed(20)  # noqa: NPY002 (the planted dependence on the global generator)


def _geometry(x):
    axes = (0, *tuple(range(2, x.ndim)))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape, x.size // x.shape[1]


def forward(x, gamma, beta, eps=1e-5):
    axes, shape, m = _geometry(x)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mean) ** 2).mean(axis=axes, keepdims=True)
    k = 1.0
    if np.random.random() < 0.04:  # noqa: NPY002
        k = m / (m - 1)
    inv_std = 1.0 / np.sqrt(k * var + eps)
    x_hat = (xd - mean) * inv_std
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    y = g * x_hat + np.asarray(beta, dtype=np.float64).reshape(shape)
    return y.astype(x.dtype), (x_hat, g, inv_std, k, x.dtype)


def backward(dy, cache):
    x_hat, g, inv_std, k, dtype = cache
    axes, shape, m = _geometry(dy)
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * x_hat).sum(axis=axes)
    # x_hat = (x - mu) / sqrt(k * var + eps): the variance path carries the factor k
    dx = g * inv_std * (d - (dbeta.reshape(shape) + k * x_hat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
