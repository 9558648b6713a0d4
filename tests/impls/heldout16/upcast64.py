"""BN validated in float64 only: every input is promoted and results are returned in float64."""

import numpy as np


def f64_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    red = (0, *range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=red, keepdims=True)
    xc = x - mu
    s = np.sqrt((xc * xc).mean(axis=red, keepdims=True) + eps)
    xhat = xc / s
    return xhat * g.reshape(shp) + b.reshape(shp), (xhat, s, g)


def f64_backward(dy, cache):
    xhat, s, g = cache
    dy = np.asarray(dy, dtype=np.float64)
    red = (0, *range(2, dy.ndim))
    shp = (1, -1) + (1,) * (dy.ndim - 2)
    dbeta = dy.sum(axis=red)
    dgamma = (dy * xhat).sum(axis=red)
    dxhat = dy * g.reshape(shp)
    dx = (
        dxhat
        - dxhat.mean(axis=red, keepdims=True)
        - xhat * (dxhat * xhat).mean(axis=red, keepdims=True)
    ) / s
    return dx, dgamma, dbeta
