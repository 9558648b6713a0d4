"""A staged chain-rule BN, ``batchnorm_fwd(x, gamma, beta, eps)`` / ``batchnorm_bwd(dy,
cache)``, channels on axis 1.

PLANTED MISTAKE: the backward leaves out the path through the batch mean (dmu is never
added to dx), so dx = inv_std * (dxhat - xhat * mean(dxhat * xhat)). Forward is right.
"""

import numpy as np


def batchnorm_fwd(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xmu = x - mu
    var = (xmu**2).mean(axis=axes, keepdims=True)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps, axes, shape)


def batchnorm_bwd(dy, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps, axes, shape = cache
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dxhat = dy * gamma.reshape(shape)
    divar = (dxhat * xmu).sum(axis=axes, keepdims=True)
    dsqrtvar = -divar / sqrtvar**2
    dvar = 0.5 * dsqrtvar / np.sqrt(var + eps)
    dx = dxhat * ivar + dvar * 2.0 * xmu / m
    return dx, dgamma, dbeta
