"""Batch normalization that keeps no x and no x_hat for its backward (the In-Place-ABN idea):
the cache holds z = gamma * x_hat (the output before the shift), and the backward recovers
x_hat = z / gamma, with a guard against dividing by a (near-)zero gamma. Any rank 2-5,
channels on axis 1, float64 inside, rounded once:

    abn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)
    abn_backward(dy, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the guard is `np.maximum(np.abs(gamma), 1e-12)`, which drops gamma's sign:
in every channel with a NEGATIVE gamma the recovered x_hat has the wrong sign, so dgamma is
negated there (dx stays right: x_hat * dgamma keeps its sign). A zero gamma gives x_hat = 0,
so dgamma 0 there too. Positive gammas are right.
"""

import numpy as np


def _geom(a):
    axes = (0, *range(2, a.ndim))
    shape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
    return axes, shape, a.size // a.shape[1]


def abn_forward(x, gamma, beta, eps=1e-5):
    axes, shape, _ = _geom(x)
    xd = x.astype(np.float64)
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    b = np.asarray(beta, dtype=np.float64).reshape(shape)
    mu = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    z = g * ((xd - mu) * inv_std)
    return (z + b).astype(x.dtype), (z, g, inv_std, x.dtype)


def abn_backward(dy, cache):
    z, g, inv_std, dtype = cache
    axes, shape, m = _geom(dy)
    d = dy.astype(np.float64)
    xhat = z / np.maximum(np.abs(g), 1e-12)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = g * inv_std * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
