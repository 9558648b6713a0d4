"""Functional NumPy BN whose parameters and running statistics live in a separate, mutable
`BNParams` object that the caller passes to every call: `bn_init(C) -> BNParams`,
`bn_forward(x, p, training=True) -> (y, cache)` (training updates p.running_* in place),
`bn_backward(dy, cache) -> (dx, dgamma, dbeta)`. PyTorch convention (momentum 0.1, unbiased
running variance), eps 1e-5 kept in the record. Correct.
"""

import numpy as np


class BNParams:
    __slots__ = ("beta", "eps", "gamma", "momentum", "running_mean", "running_var")

    def __init__(self, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
        self.gamma = gamma
        self.beta = beta
        self.running_mean = running_mean
        self.running_var = running_var
        self.momentum = momentum
        self.eps = eps


def bn_init(num_channels):
    c = int(num_channels)
    return BNParams(np.ones(c), np.zeros(c), np.zeros(c), np.ones(c))


def _to_rows(x):
    # (N, C, *spatial) -> (rows, C)
    c = x.shape[1]
    return np.moveaxis(x, 1, -1).reshape(-1, c)


def _from_rows(r, shape):
    moved = (shape[0], *tuple(shape[2:]), shape[1])
    return np.moveaxis(r.reshape(moved), -1, 1)


def bn_forward(x, p, training=True):
    rows = _to_rows(np.asarray(x, dtype=np.float64))
    if training:
        n = rows.shape[0]
        mu = rows.mean(axis=0)
        xc = rows - mu
        var = (xc**2).mean(axis=0)
        istd = 1.0 / np.sqrt(var + p.eps)
        xhat = xc * istd
        p.running_mean = (1.0 - p.momentum) * p.running_mean + p.momentum * mu
        p.running_var = (1.0 - p.momentum) * p.running_var + p.momentum * var * (n / (n - 1.0))
        cache = (xhat, istd, np.array(p.gamma, dtype=np.float64), x.shape, x.dtype)
    else:
        xhat = (rows - p.running_mean) / np.sqrt(p.running_var + p.eps)
        cache = None
    y = xhat * p.gamma + p.beta
    return _from_rows(y, x.shape).astype(x.dtype), cache


def bn_backward(dy, cache):
    xhat, istd, gamma, shape, dtype = cache
    g = _to_rows(np.asarray(dy, dtype=np.float64))
    dbeta = g.sum(axis=0)
    dgamma = (g * xhat).sum(axis=0)
    dxhat = g * gamma
    dx = istd * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return _from_rows(dx, shape).astype(dtype), dgamma, dbeta
