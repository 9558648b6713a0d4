"""HOSTILE functional pair: `forward(x, gamma, beta, eps) -> (y, cache)` and
`backward(dy, cache) -> (dx, dgamma, dbeta)`, channels on axis 1, float64 arithmetic.

PLANTED BEHAVIOUR: a time bomb. For the first 1.5 s after the module's FIRST forward call
everything is right. After that the backward drops the path through the batch variance
(dx = gamma*rstd*(dy - mean(dy))), and the forward uses eps = 1e-3 in place of the eps it
was given. A checker that finishes its checks quickly, or starts a fresh process per check,
sees only right answers.
"""

import time

import numpy as np

_T0 = None


def _armed():
    return _T0 is not None and time.monotonic() - _T0 > 1.5


def forward(x, gamma, beta, eps):
    global _T0
    if _T0 is None:
        _T0 = time.monotonic()
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes)
    xc = xd - mu.reshape(bs)
    var = (xc * xc).mean(axis=axes)
    e = 1e-3 if _armed() else eps
    rstd = 1.0 / np.sqrt(var + e)
    xhat = xc * rstd.reshape(bs)
    g = np.asarray(gamma, np.float64)
    y = g.reshape(bs) * xhat + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (xhat, rstd, g, axes, bs, x.dtype)


def backward(dy, cache):
    xhat, rstd, g, axes, bs, dt = cache
    m = xhat.size // xhat.shape[1]
    d = dy.astype(np.float64)
    db = d.sum(axis=axes)
    dg = (d * xhat).sum(axis=axes)
    if _armed():
        dx = (g * rstd).reshape(bs) * (d - db.reshape(bs) / m)
    else:
        dx = (g * rstd).reshape(bs) * (d - (db.reshape(bs) + xhat * dg.reshape(bs)) / m)
    return dx.astype(dt), dg.astype(dt), db.astype(dt)
