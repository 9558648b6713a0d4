"""Functional BN that copies its input into one flat buffer "so the loops read a single
contiguous block": np.frombuffer(a.tobytes(order="A")) viewed as (N, C, L).
forward(x, gamma, beta, eps) -> (y, cache); backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: tobytes(order="A") writes a Fortran-contiguous array in Fortran order, but the
buffer is then read as C-ordered (N, C, L). A Fortran-contiguous x or dy (np.asfortranarray, or
the transpose of a C array of the reversed shape) has its samples and channels mixed; every
other layout (C order, sliced, negative strides, channels-last views) is copied in C order and
is right.
"""

import numpy as np


def _ncl(a):
    n, c = a.shape[0], a.shape[1]
    flat = np.frombuffer(a.tobytes(order="A"), dtype=a.dtype)
    return flat.reshape(n, c, -1).astype(np.float64)


def forward(x, gamma, beta, eps=1e-5):
    x3 = _ncl(x)
    mu = x3.mean(axis=(0, 2), keepdims=True)
    xc = x3 - mu
    var = (xc * xc).mean(axis=(0, 2), keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(1, -1, 1)
    b = np.asarray(beta, np.float64).reshape(1, -1, 1)
    y = xhat * g + b
    return y.reshape(x.shape).astype(x.dtype), (xhat, rstd, g, x.shape)


def backward(dy, cache):
    xhat, rstd, g, shape = cache
    d3 = _ncl(dy)
    m = xhat.shape[0] * xhat.shape[2]
    dbeta = d3.sum(axis=(0, 2))
    dgamma = (d3 * xhat).sum(axis=(0, 2))
    dx = g * rstd / m * (m * d3 - dbeta.reshape(1, -1, 1) - xhat * dgamma.reshape(1, -1, 1))
    return dx.reshape(shape).astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
