"""BN written with np.matrix arithmetic for (N, C) input, the way old course code did."""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    if x.ndim != 2:
        raise ValueError(f"expected 2D input (N, C), got {x.ndim}D")
    xm = np.asmatrix(x)
    mu = xm.mean(axis=0)
    xc = xm - mu
    var = np.multiply(xc, xc).mean(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = np.multiply(xc, inv)
    y = np.multiply(xhat, np.asmatrix(gamma)) + np.asmatrix(beta)
    return y, (xhat, inv, np.asmatrix(gamma))


def backward(dy, cache):
    xhat, inv, gm = cache
    d = np.asmatrix(dy)
    n = d.shape[0]
    dbeta = d.sum(axis=0)
    dgamma = np.multiply(d, xhat).sum(axis=0)
    dx = np.multiply(np.multiply(gm, inv) / n, n * d - dbeta - np.multiply(xhat, dgamma))
    return dx, dgamma, dbeta
