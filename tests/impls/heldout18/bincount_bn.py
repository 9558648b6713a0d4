"""Functional BN written the "segment reduction" way (as scatter-add / groupby code does it):
every element gets its channel id, and the per-channel sums are `np.bincount(ids, weights=...)`
over the flattened arrays. forward(x, gamma, beta, eps=1e-5) -> (y, cache),
backward(dy, cache) -> (dx, dgamma, dbeta). Channel axis 1, any rank; float64 arithmetic,
results cast back to the input dtype.

No planted mistake.
"""

import numpy as np


def _ids(shape):
    c = shape[1]
    bs = (1, c) + (1,) * (len(shape) - 2)
    return np.broadcast_to(np.arange(c).reshape(bs), shape).ravel(), c, bs


def _segsum(ids, values, c):
    return np.bincount(ids, weights=values.ravel(), minlength=c)


def forward(x, gamma, beta, eps=1e-5):
    ids, c, bs = _ids(x.shape)
    xd = x.astype(np.float64)
    counts = np.bincount(ids, minlength=c).astype(np.float64)
    mu = _segsum(ids, xd, c) / counts
    xc = xd - mu.reshape(bs)
    var = _segsum(ids, xc * xc, c) / counts
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd.reshape(bs)
    g = np.asarray(gamma, np.float64)
    y = xhat * g.reshape(bs) + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (ids, counts, xhat, rstd, g, c, bs)


def backward(dy, cache):
    ids, counts, xhat, rstd, g, c, bs = cache
    d = dy.astype(np.float64)
    dbeta = _segsum(ids, d, c)
    dgamma = _segsum(ids, d * xhat, c)
    dx = (g * rstd).reshape(bs) * (
        d - (dbeta / counts).reshape(bs) - xhat * (dgamma / counts).reshape(bs)
    )
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
