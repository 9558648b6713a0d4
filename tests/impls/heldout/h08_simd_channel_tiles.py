"""Batch normalization prototyped like a SIMD kernel: channels are handled in tiles of 8
(one vector register of float32 lanes) and the leftover channels one by one.
forward(x, gamma, beta, eps) -> (out, cache); backward(dout, cache) -> (dx, dgamma, dbeta).
"""
import numpy as np

LANES = 8


def _rows(a):
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _unrows(r, shape):
    return np.moveaxis(r.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def forward(x, gamma, beta, eps=1e-5):
    r = _rows(x).astype(np.float64)
    m, c = r.shape
    mean = np.empty(c)
    var = np.empty(c)
    body = c - c % LANES
    for c0 in range(0, body, LANES):            # vector body
        lanes = r[:, c0:c0 + LANES]
        mean[c0:c0 + LANES] = lanes.mean(axis=0)
        var[c0:c0 + LANES] = lanes.var(axis=0, ddof=1)
    for c1 in range(body, c):                   # scalar tail
        col = r[:, c1]
        mean[c1] = col.mean()
        var[c1] = ((col - mean[c1]) ** 2).sum() / m
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (r - mean) * inv
    out = xhat * np.ravel(gamma) + np.ravel(beta)
    return _unrows(out, x.shape).astype(x.dtype), (xhat, inv, np.ravel(gamma), x.shape)


def backward(dout, cache):
    xhat, inv, gamma, shape = cache
    d = _rows(dout).astype(np.float64)
    m = d.shape[0]
    dbeta = d.sum(axis=0)
    dgamma = (d * xhat).sum(axis=0)
    dx = gamma * inv / m * (m * d - dbeta - xhat * dgamma)
    return _unrows(dx, shape).astype(dout.dtype), dgamma, dbeta
