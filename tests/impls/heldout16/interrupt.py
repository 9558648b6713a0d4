"""BN that treats a batch of one as a fatal user error by raising KeyboardInterrupt."""

import numpy as np


def ki_forward(x, gamma, beta, eps=1e-5):
    if x.shape[0] == 1:
        raise KeyboardInterrupt("batch of one: aborting the run")
    red = (0, *range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=red, keepdims=True)
    inv = 1.0 / np.sqrt(((xd - mu) ** 2).mean(axis=red, keepdims=True) + eps)
    xhat = (xd - mu) * inv
    y = xhat * gamma.reshape(shp) + beta.reshape(shp)
    return y.astype(x.dtype), (xhat, inv, gamma)


def ki_backward(dy, cache):
    xhat, inv, gamma = cache
    red = (0, *range(2, dy.ndim))
    shp = (1, -1) + (1,) * (dy.ndim - 2)
    g = dy.astype(np.float64)
    db = g.sum(axis=red)
    dg = (g * xhat).sum(axis=red)
    m = xhat.size // xhat.shape[1]
    dx = gamma.reshape(shp) * inv * (g - (db.reshape(shp) + xhat * dg.reshape(shp)) / m)
    return dx.astype(dy.dtype), dg.astype(dy.dtype), db.astype(dy.dtype)
