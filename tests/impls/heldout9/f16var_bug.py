"""BN that halves the memory traffic of the variance pass by squaring in half precision."""

import numpy as np


def mixed_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    h = xc.astype(np.float16)
    var = (h * h).mean(axis=axes, keepdims=True, dtype=np.float32).astype(x.dtype)
    rstd = 1 / np.sqrt(var + eps)
    xhat = xc * rstd
    return xhat * gamma.reshape(bs) + beta.reshape(bs), (xhat, rstd, gamma)


def mixed_backward(dout, cache):
    xhat, rstd, gamma = cache
    axes = (0,) + tuple(range(2, dout.ndim))
    bs = (1, -1) + (1,) * (dout.ndim - 2)
    m = xhat.size // xhat.shape[1]
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dx = gamma.reshape(bs) * rstd / m * (m * dout - dbeta.reshape(bs) - xhat * dgamma.reshape(bs))
    return dx, dgamma, dbeta
