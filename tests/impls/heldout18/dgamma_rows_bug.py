"""Functional BN whose parameter gradients are reduced on a (rows, C) matrix view (the
"flatten everything but the channel" idiom), while dx is computed with broadcasting.
forward(x, gamma, beta, eps=1e-5) -> (y, cache), backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: dy is brought to (rows, C) with the channel axis moved last, but x_hat
is flattened with a plain `reshape(-1, C)` (no `moveaxis`). For 2-D input the two agree; for
4-D input with C > 1 the rows of x_hat mix channels and positions, so dgamma is wrong (dx and
dbeta are right; with C = 1 dgamma is right too).
"""

import numpy as np


def _rows(a):
    c = a.shape[1]
    return np.moveaxis(a, 1, -1).reshape(-1, c)


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = g * xhat + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (xhat, rstd, g)


def backward(dy, cache):
    xhat, rstd, g = cache
    axes = (0, *tuple(range(2, dy.ndim)))
    c = dy.shape[1]
    d = dy.astype(np.float64)
    dx = (
        g
        * rstd
        * (d - d.mean(axis=axes, keepdims=True) - xhat * (d * xhat).mean(axis=axes, keepdims=True))
    )
    d_rows = _rows(d)
    xhat_rows = xhat.reshape(-1, c)
    dgamma = (d_rows * xhat_rows).sum(axis=0)
    dbeta = d_rows.sum(axis=0)
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
