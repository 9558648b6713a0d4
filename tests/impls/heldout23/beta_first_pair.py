"""A functional pair whose parameters come beta first: ``bn_forward(x, beta, gamma, eps)``.

The backward hands the gradients back in the order of the forward's inputs, as a
vector-Jacobian product does: ``bn_backward(dy, cache) -> (dx, dbeta, dgamma)``.
Training-mode batch normalization only (no running statistics, no eval mode).

CORRECT.
"""

import numpy as np


def _bcast(v, ndim):
    return v.reshape((1, v.shape[0]) + (1,) * (ndim - 2))


def bn_forward(x, beta, gamma, eps=1e-5):
    xd = x.astype(np.float64)
    red = tuple(i for i in range(xd.ndim) if i != 1)
    mu = xd.mean(axis=red)
    xc = xd - _bcast(mu, xd.ndim)
    var = (xc * xc).mean(axis=red)
    rstd = 1.0 / np.sqrt(var + eps)
    xn = xc * _bcast(rstd, xd.ndim)
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    y = xn * _bcast(g, xd.ndim) + _bcast(b, xd.ndim)
    cache = {"xn": xn, "rstd": rstd, "gamma": g, "dtype": x.dtype}
    return y.astype(x.dtype), cache


def bn_backward(dy, cache):
    xn, rstd, g, dtype = cache["xn"], cache["rstd"], cache["gamma"], cache["dtype"]
    d = dy.astype(np.float64)
    nd = d.ndim
    red = tuple(i for i in range(nd) if i != 1)
    m = d.size // d.shape[1]
    dbeta = d.sum(axis=red)
    dgamma = (d * xn).sum(axis=red)
    dx = _bcast(g * rstd / m, nd) * (m * d - _bcast(dbeta, nd) - xn * _bcast(dgamma, nd))
    return dx.astype(dtype), dbeta.astype(dtype), dgamma.astype(dtype)
