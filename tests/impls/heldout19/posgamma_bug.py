"""Functional BN pair `bn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)` and
`bn_backward(dy, cache) -> (dx, dgamma, dbeta)`, channels on axis 1, computed in float64 and
returned in x's dtype. The backward has a "fast path" for the common case of a strictly
positive scale (gamma initialised to ones, as almost every network has it), where it folds
gamma into the inverse std through logs to save a multiply per element.

PLANTED MISTAKE: the fast path (taken only when EVERY gamma > 0) reduces dy·x_hat over the
whole array instead of per channel (`np.sum(dy * xhat)` without the axes), so the
x_hat-term of dx mixes all channels. With any gamma <= 0 the general path runs and is right;
with one channel both paths agree. Forward, dgamma and dbeta are right everywhere.
"""

import numpy as np


def _axes(x):
    return (0, *tuple(range(2, x.ndim))), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bn_forward(x, gamma, beta, eps=1e-5):
    axes, bs = _axes(x)
    xd = np.asarray(x, dtype=np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = g * xhat + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (xhat, rstd, g, x.dtype)


def bn_backward(dy, cache):
    xhat, rstd, g, dt = cache
    axes, _bs = _axes(xhat)
    m = xhat.size // xhat.shape[1]
    d = np.asarray(dy, dtype=np.float64)
    dbeta = d.sum(axis=axes, keepdims=True)
    dgamma = (d * xhat).sum(axis=axes, keepdims=True)
    if np.all(g > 0):
        scale = np.exp(np.log(g) + np.log(rstd)) / m
        dx = scale * (m * d - dbeta - xhat * np.sum(d * xhat))
    else:
        dx = (g * rstd / m) * (m * d - dbeta - xhat * dgamma)
    return dx.astype(dt), dgamma.reshape(-1).astype(dt), dbeta.reshape(-1).astype(dt)
