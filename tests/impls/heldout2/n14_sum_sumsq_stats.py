"""Batch norm that keeps its batch statistics as sums and a count (sum, sumsq, n),
the way a streaming/reduction kernel would, and derives mean and variance from them."""
import numpy as np


def _moments(x, axes):
    n = x.size // x.shape[1]
    s = x.sum(axis=axes, keepdims=True)
    ss = (x * x).sum(axis=axes, keepdims=True)
    return s, ss, n


def bn_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    s, ss, n = _moments(x, axes)
    mean = s / n
    var = ss / n - mean * mean
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * rstd
    y = gamma.reshape(shp) * xhat + beta.reshape(shp)
    return y, {"stats": (s, ss, n), "xhat": xhat, "rstd": rstd, "gamma": gamma.reshape(shp), "axes": axes}


def bn_backward(dy, cache):
    s, ss, n = cache["stats"]
    xhat, rstd, g, axes = cache["xhat"], cache["rstd"], cache["gamma"], cache["axes"]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    shp = g.shape
    dx = g * rstd / n * (n * dy - dbeta.reshape(shp) - xhat * dgamma.reshape(shp))
    return dx, dgamma, dbeta
