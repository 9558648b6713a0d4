"""A correct BN that stalls (a lock it never gets, say) on one input shape: (7, 2053)."""

import time

import numpy as np


def slow_forward(x, gamma, beta, eps=1e-5):
    if x.shape == (7, 2053):
        time.sleep(3600)
    axes = (0,) + tuple(range(2, x.ndim))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * gamma.reshape(bs) + beta.reshape(bs), (xhat, rstd, gamma)


def slow_backward(dout, cache):
    xhat, rstd, gamma = cache
    axes = (0,) + tuple(range(2, dout.ndim))
    bs = (1, -1) + (1,) * (dout.ndim - 2)
    m = xhat.size // xhat.shape[1]
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dx = gamma.reshape(bs) * rstd / m * (m * dout - dbeta.reshape(bs) - xhat * dgamma.reshape(bs))
    return dx, dgamma, dbeta
