"""BN written with einsum only; the channel axis is 1, any rank ('nc...')."""

import numpy as np


def _bshape(x):
    return (1, -1) + (1,) * (x.ndim - 2)


def ein_forward(x, gamma, beta, eps=1e-5):
    m = x.size // x.shape[1]
    mu = np.einsum("nc...->c", x) / m
    xc = x - mu.reshape(_bshape(x))
    var = np.einsum("nc...,nc...->c", xc, xc) / m
    rstd = 1 / np.sqrt(var + eps)
    xhat = np.einsum("nc...,c->nc...", xc, rstd)
    y = np.einsum("nc...,c->nc...", xhat, gamma) + beta.reshape(_bshape(x))
    return y, (xhat, gamma, rstd)


def ein_backward(dy, cache):
    xhat, gamma, rstd = cache
    m = xhat.size // xhat.shape[1]
    dbeta = np.einsum("nc...->c", dy)
    dgamma = np.einsum("nc...,nc...->c", dy, xhat)
    k = (gamma * rstd / m).reshape(_bshape(dy))
    dx = k * (m * dy - dbeta.reshape(_bshape(dy)) - xhat * dgamma.reshape(_bshape(dy)))
    return dx, dgamma, dbeta
