"""Channels-last (NHWC / NC) batch-norm kernel prototype: the flattened (M, C) input is
processed in row tiles of TILE values per channel; per-tile statistics are combined."""
import numpy as np

TILE = 4096


def nhwc_bn_forward(x, gamma, beta, eps=1e-5):
    C = x.shape[-1]
    x2 = x.reshape(-1, C)
    M = x2.shape[0]
    tot = np.zeros(C, dtype=x.dtype)
    m2 = np.zeros(C, dtype=x.dtype)
    for start in range(0, M, TILE):
        t = x2[start:start + TILE]
        k = t.shape[0]
        tmean = t.mean(axis=0)
        tot += t.sum(axis=0)
        m2 += ((t - tmean) ** 2).sum(axis=0)
    mean = tot / M
    var = m2 / M
    rstd = 1.0 / np.sqrt(var + eps)
    y2 = np.empty_like(x2)
    xhat = np.empty_like(x2)
    for start in range(0, M, TILE):
        sl = slice(start, start + TILE)
        xhat[sl] = (x2[sl] - mean) * rstd
        y2[sl] = xhat[sl] * gamma + beta
    return y2.reshape(x.shape), (xhat, rstd, gamma, x.shape)


def nhwc_bn_backward(dy, cache):
    xhat, rstd, gamma, shape = cache
    C = shape[-1]
    dy2 = dy.reshape(-1, C)
    M = dy2.shape[0]
    dbeta = np.zeros(C, dtype=dy.dtype)
    dgamma = np.zeros(C, dtype=dy.dtype)
    for start in range(0, M, TILE):
        sl = slice(start, start + TILE)
        dbeta += dy2[sl].sum(axis=0)
        dgamma += (dy2[sl] * xhat[sl]).sum(axis=0)
    dx2 = np.empty_like(dy2)
    k = gamma * rstd / M
    for start in range(0, M, TILE):
        sl = slice(start, start + TILE)
        dx2[sl] = k * (M * dy2[sl] - dbeta - xhat[sl] * dgamma)
    return dx2.reshape(shape), dgamma, dbeta
