"""A batch normalization that computes in float32 whatever the input dtype (the arrays are
cast on entry "for speed and memory") and returns the input dtype.
bn32_forward(x, gamma, beta, eps) -> (y, cache); bn32_backward(dy, cache) -> grads.
"""
import numpy as np


def bn32_forward(x, gamma, beta, eps=1e-5):
    dtype = x.dtype
    x = np.asarray(x, np.float32)
    g = np.asarray(gamma, np.float32).reshape((1, -1) + (1,) * (x.ndim - 2))
    b = np.asarray(beta, np.float32).reshape(g.shape)
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = np.float32(1.0) / np.sqrt(var + np.float32(eps))
    xhat = xc * inv
    y = g * xhat + b
    return y.astype(dtype), (xhat, inv, g, axes, dtype)


def bn32_backward(dy, cache):
    xhat, inv, g, axes, dtype = cache
    dy = np.asarray(dy, np.float32)
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    shp = g.shape
    dx = g * inv / np.float32(m) * (np.float32(m) * dy - dbeta.reshape(shp) - xhat * dgamma.reshape(shp))
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
