"""Functional NumPy BN, forward(x, gamma, beta, eps) -> (y, cache) / backward(dy, cache), that
folds the normalization into one per-channel scale to save a pass. The fold is written as
`scale = gamma; scale /= sqrt(var + eps)`, which divides the caller's gamma array in place
(no copy). Every number it returns is right for the gamma passed in; the caller's gamma is left
holding gamma / sqrt(var + eps) afterwards.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, dtype=np.float64)
    xc = x - mu.reshape(shp)
    var = np.mean(xc * xc, axis=axes)
    istd = 1.0 / np.sqrt(var + eps)
    scale = gamma
    scale /= np.sqrt(var + eps)
    xhat = xc * istd.reshape(shp)
    y = xc * scale.reshape(shp) + beta.reshape(shp)
    return y.astype(x.dtype), (xhat, istd, scale.copy(), axes, shp)


def backward(dy, cache):
    xhat, _istd, scale, axes, shp = cache
    g = dy.astype(np.float64)
    dbeta = g.sum(axis=axes)
    dgamma = (g * xhat).sum(axis=axes)
    m = g.size // g.shape[1]
    dx = scale.reshape(shp) * (g - (dbeta / m).reshape(shp) - xhat * (dgamma / m).reshape(shp))
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
