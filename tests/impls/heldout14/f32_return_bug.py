"""Functional BN "optimised for memory": every array is converted to float32 on entry and the
results are returned as float32, whatever the input dtype.
fast_forward(x, gamma, beta, eps) -> (y, cache); fast_backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: float64 input comes back as float32 (dtype changed, and only float32
accuracy: relative errors around 1e-7 instead of 1e-16). For float32 input it is right.
"""

import numpy as np


def fast_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float32)
    gamma = np.asarray(gamma, dtype=np.float32)
    beta = np.asarray(beta, dtype=np.float32)
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, dtype=np.float64).astype(np.float32)
    xc = x - mu.reshape(bs)
    var = (xc.astype(np.float64) ** 2).mean(axis=axes).astype(np.float32)
    rstd = (1.0 / np.sqrt(var + np.float32(eps))).astype(np.float32)
    xhat = xc * rstd.reshape(bs)
    y = xhat * gamma.reshape(bs) + beta.reshape(bs)
    return y, (xhat, rstd, gamma, axes, bs)


def fast_backward(dy, cache):
    xhat, rstd, gamma, axes, bs = cache
    dy = np.asarray(dy, dtype=np.float32)
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes, dtype=np.float64).astype(np.float32)
    dgamma = (dy.astype(np.float64) * xhat).sum(axis=axes).astype(np.float32)
    dx = (gamma * rstd / np.float32(m)).reshape(bs) * (
        np.float32(m) * dy - dbeta.reshape(bs) - xhat * dgamma.reshape(bs)
    )
    return dx.astype(np.float32), dgamma, dbeta
