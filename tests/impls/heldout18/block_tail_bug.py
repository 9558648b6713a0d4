"""Functional BN with a blocked two-level reduction for large channels: the values of a
channel are summed in blocks of 4096 (block sums first, then their sum), a common trick to
keep the rounding error of long sums small. forward(x, gamma, beta, eps=1e-5) ->
(y, cache), backward(dy, cache) -> (dx, dgamma, dbeta). Works on a (rows, C) copy.

PLANTED MISTAKE: the blocked path reshapes the first (m // 4096) * 4096 rows into blocks and
forgets the remainder rows, while still dividing by m. With m <= 4096 (the direct path) or
m a multiple of 4096 it is right; for m > 4096 otherwise the mean and variance (and so y,
dx, dgamma) miss the tail's contribution. The same reduction serves the backward's sums.
"""

import numpy as np

BLOCK = 4096


def _colsum(a):
    m = a.shape[0]
    if m <= BLOCK:
        return a.sum(axis=0)
    nb = m // BLOCK
    blocks = a[: nb * BLOCK].reshape(nb, BLOCK, a.shape[1]).sum(axis=1)
    return blocks.sum(axis=0)


def _to_rows(a):
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1]).astype(np.float64)


def _from_rows(r, shape):
    moved = (shape[0], *tuple(shape[2:]), shape[1])
    return np.moveaxis(r.reshape(moved), -1, 1)


def forward(x, gamma, beta, eps=1e-5):
    r = _to_rows(x)
    m = r.shape[0]
    mu = _colsum(r) / m
    xc = r - mu
    var = _colsum(xc * xc) / m
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64)
    y = xhat * g + np.asarray(beta, np.float64)
    return _from_rows(y, x.shape).astype(x.dtype), (xhat, rstd, g, x.shape)


def backward(dy, cache):
    xhat, rstd, g, shape = cache
    d = _to_rows(dy)
    m = d.shape[0]
    dbeta = _colsum(d)
    dgamma = _colsum(d * xhat)
    dx = g * rstd * (d - dbeta / m - xhat * dgamma / m)
    return _from_rows(dx, shape).astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
