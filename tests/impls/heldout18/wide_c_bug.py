"""Functional BN with a separate backward path for wide layers (C >= 1024), written as
matrix products on a (rows, C) view so that very wide layers make few passes over memory.
forward(x, gamma, beta, eps=1e-5) -> (y, cache), backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the wide path's dx keeps the mean term (the path through mu_B) but drops the
x_hat * mean(dy * x_hat) term (the path through sigma2_B). dgamma and dbeta are computed apart
and are right, so sum(dx) = 0 and the parameter gradients hold; dx is wrong, for C >= 1024
only. The narrow path (C < 1024) is right.
"""

import numpy as np

WIDE = 1024


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
    return (g * xhat + np.asarray(beta, np.float64).reshape(bs)).astype(x.dtype), (xhat, rstd, g)


def backward(dy, cache):
    xhat, rstd, g = cache
    axes = (0, *tuple(range(2, dy.ndim)))
    c = dy.shape[1]
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    if c >= WIDE:
        rows = np.moveaxis(d, 1, -1).reshape(-1, c)
        m = rows.shape[0]
        centred = rows - np.ones((m, 1)) @ (np.ones((1, m)) @ rows) / m
        dx_rows = centred * (g.ravel() * rstd.ravel())
        moved = (d.shape[0], *d.shape[2:], c)
        dx = np.moveaxis(dx_rows.reshape(moved), -1, 1)
    else:
        m = d.size // c
        bs = (1, -1) + (1,) * (d.ndim - 2)
        dx = g * rstd * (d - (dbeta.reshape(bs) + xhat * dgamma.reshape(bs)) / m)
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
