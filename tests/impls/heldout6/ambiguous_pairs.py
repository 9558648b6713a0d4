"""Two complete, correct forward/backward pairs in one file: a batch norm and a layer norm.
Verifying the file without `:name` is ambiguous."""

import numpy as np


def bn_forward(x, gamma, beta, eps=1e-5):
    ax = (0, *range(2, x.ndim))
    sh = (1, -1) + (1,) * (x.ndim - 2)
    xf = x.astype(np.float64)
    mu = xf.mean(axis=ax, keepdims=True)
    inv = 1.0 / np.sqrt(((xf - mu) ** 2).mean(axis=ax, keepdims=True) + eps)
    xhat = (xf - mu) * inv
    return (gamma.reshape(sh) * xhat + beta.reshape(sh)).astype(x.dtype), (xhat, inv, gamma, ax, sh)


def bn_backward(dy, cache):
    xhat, inv, gamma, ax, sh = cache
    g = dy.astype(np.float64)
    m = g.size // g.shape[1]
    db, dg = g.sum(axis=ax), (g * xhat).sum(axis=ax)
    dx = gamma.reshape(sh) * inv / m * (m * g - db.reshape(sh) - xhat * dg.reshape(sh))
    return dx.astype(dy.dtype), dg.astype(gamma.dtype), db.astype(gamma.dtype)


def ln_forward(x, gamma, beta, eps=1e-5):
    xf = x.astype(np.float64)
    mu = xf.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(((xf - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (xf - mu) * inv
    return (gamma * xhat + beta).astype(x.dtype), (xhat, inv, gamma)


def ln_backward(dy, cache):
    xhat, inv, gamma = cache
    g = dy.astype(np.float64)
    lead = tuple(range(g.ndim - 1))
    dg, db = (g * xhat).sum(axis=lead), g.sum(axis=lead)
    gx = g * gamma
    dx = inv * (
        gx - gx.mean(axis=-1, keepdims=True) - xhat * (gx * xhat).mean(axis=-1, keepdims=True)
    )
    return dx.astype(dy.dtype), dg.astype(gamma.dtype), db.astype(gamma.dtype)
