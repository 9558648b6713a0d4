"""Functional BN whose per-channel sums run over tiles of 8192 values (a scratch-pad sized
reduction, as one would write before porting to a GPU kernel). The input is copied to a
(C, M) matrix, M = values per channel; mean, variance and the backward's two sums all go
through the same tiled row sum.
tile_forward(x, gamma, beta, eps) -> (y, cache); tile_backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the tile's last index is treated as inclusive, so every inner tile also adds
the first value of the next tile: each value at a multiple of 8192 is counted twice. Exact for
M <= 8192 values per channel; wrong (mean, variance, y and the backward) above.
"""

import numpy as np

TILE = 8192


def _rowsum(a):
    m = a.shape[1]
    total = np.zeros(a.shape[0])
    for start in range(0, m, TILE):
        last = min(start + TILE, m - 1)
        total += a[:, start : last + 1].sum(axis=1)
    return total


def _to_cm(a):
    c = a.shape[1]
    return np.moveaxis(np.asarray(a, np.float64), 1, 0).reshape(c, -1)


def _from_cm(a2, shape):
    moved = (shape[1], shape[0], *tuple(shape[2:]))
    return np.moveaxis(a2.reshape(moved), 0, 1)


def tile_forward(x, gamma, beta, eps=1e-5):
    x2 = _to_cm(x)
    m = x2.shape[1]
    mu = _rowsum(x2) / m
    xc = x2 - mu[:, None]
    var = _rowsum(xc * xc) / m
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd[:, None]
    g = np.asarray(gamma, np.float64)
    y2 = xhat * g[:, None] + np.asarray(beta, np.float64)[:, None]
    return _from_cm(y2, x.shape).astype(x.dtype), (xhat, rstd, g, x.shape)


def tile_backward(dy, cache):
    xhat, rstd, g, shape = cache
    d2 = _to_cm(dy)
    m = d2.shape[1]
    dbeta = _rowsum(d2)
    dgamma = _rowsum(d2 * xhat)
    dx2 = (g * rstd / m)[:, None] * (m * d2 - dbeta[:, None] - xhat * dgamma[:, None])
    return _from_cm(dx2, shape).astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
