"""A hand-written "kernel" batch normalization in NumPy, written the way one prototypes a
C/CUDA kernel before porting it: the input is laid out as rows x channels, channels are
processed in tiles of 8 (a vector register) with a scalar tail, and each channel's
statistics are reduced in blocks of 4096 rows merged with Chan's parallel formula.

Entry points: blocked_forward(x, gamma, beta, eps) -> (y, cache) and
blocked_backward(dy, cache) -> (dx, dgamma, dbeta).  Channel axis 1.
"""
import numpy as np

TILE = 8
BLOCK = 4096


def _rows(a):
    """(N, C, *S) -> contiguous (N * prod(S), C) float64 copy."""
    c = a.shape[1]
    return np.ascontiguousarray(np.moveaxis(a, 1, -1).reshape(-1, c), dtype=np.float64)


def _unrows(r, shape):
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(r.reshape(moved), -1, 1)


def _block_moments(col):
    """mean and M2 (sum of squared deviations) of a 2-D slab (rows, k), blockwise."""
    n = 0
    mean = np.zeros(col.shape[1])
    m2 = np.zeros(col.shape[1])
    for start in range(0, col.shape[0], BLOCK):
        blk = col[start:start + BLOCK]
        nb = blk.shape[0]
        mb = blk.mean(axis=0)
        m2b = ((blk - mb) ** 2).sum(axis=0)
        tot = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + m2b + delta * delta * (n * nb / tot)
        n = tot
    return mean, m2


def _block_sum(col):
    acc = np.zeros(col.shape[1])
    for start in range(0, col.shape[0], BLOCK):
        acc += col[start:start + BLOCK].sum(axis=0)
    return acc


def _tiles(c):
    body = c - c % TILE
    for c0 in range(0, body, TILE):
        yield slice(c0, c0 + TILE)
    for c1 in range(body, c):
        yield slice(c1, c1 + 1)


def blocked_forward(x, gamma, beta, eps=1e-5):
    xr = _rows(x)
    m, c = xr.shape
    g = np.asarray(gamma, np.float64).reshape(-1)
    b = np.asarray(beta, np.float64).reshape(-1)
    mean = np.empty(c)
    var = np.empty(c)
    for t in _tiles(c):
        mu, m2 = _block_moments(xr[:, t])
        mean[t] = mu
        var[t] = m2 / m
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (xr - mean) * inv_std
    yr = xhat * g + b
    cache = (xhat, inv_std, g, x.shape, x.dtype)
    return _unrows(yr, x.shape).astype(x.dtype), cache


def blocked_backward(dy, cache):
    xhat, inv_std, g, shape, dtype = cache
    dyr = _rows(dy)
    m, c = dyr.shape
    dbeta = np.empty(c)
    dgamma = np.empty(c)
    for t in _tiles(c):
        dbeta[t] = _block_sum(dyr[:, t])
        dgamma[t] = _block_sum(dyr[:, t] * xhat[:, t])
    dxr = (g * inv_std / m) * (m * dyr - dbeta - xhat * dgamma)
    return (_unrows(dxr, shape).astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype))
