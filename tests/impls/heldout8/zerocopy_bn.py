"""A "zero-copy" NumPy BN kernel: each channel's slab is read in memory order (ravel(order='K'),
no copy for any strided layout). Sums that pair x with dy use the memory order only when both
have the same strides; otherwise both are read in logical (C) order."""

import numpy as np


def _slabs(a):
    return [a[:, c] for c in range(a.shape[1])]


def fast_forward(x, gamma, beta, eps=1e-5):
    c = x.shape[1]
    mu = np.empty(c)
    inv = np.empty(c)
    for k, xs in enumerate(_slabs(x)):
        flat = xs.ravel(order="K").astype(np.float64)
        m = flat.mean()
        d = flat - m
        mu[k] = m
        inv[k] = 1.0 / np.sqrt(np.dot(d, d) / flat.size + eps)
    bshape = (1, c) + (1,) * (x.ndim - 2)
    xhat = (x.astype(np.float64) - mu.reshape(bshape)) * inv.reshape(bshape)
    y = xhat * gamma.astype(np.float64).reshape(bshape) + beta.astype(np.float64).reshape(bshape)
    return y.astype(x.dtype), (x, mu, inv, gamma)


def fast_backward(dy, cache):
    x, mu, inv, gamma = cache
    c = x.shape[1]
    m = x.size // c
    dgamma = np.empty(c)
    dbeta = np.empty(c)
    same_layout = x.strides == dy.strides
    order = "K" if same_layout else "C"
    for k, (xs, gs) in enumerate(zip(_slabs(x), _slabs(dy))):
        xf = xs.ravel(order=order).astype(np.float64)
        gf = gs.ravel(order=order).astype(np.float64)
        dbeta[k] = gf.sum()
        dgamma[k] = np.dot(gf, (xf - mu[k]) * inv[k])
    bshape = (1, c) + (1,) * (x.ndim - 2)
    xhat = (x.astype(np.float64) - mu.reshape(bshape)) * inv.reshape(bshape)
    scale = (gamma.astype(np.float64) * inv).reshape(bshape)
    dx = scale * (dy.astype(np.float64) - dbeta.reshape(bshape) / m - xhat * dgamma.reshape(bshape) / m)
    return dx.astype(x.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
