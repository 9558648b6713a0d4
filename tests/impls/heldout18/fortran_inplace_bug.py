"""Functional BN that works on a column-major (Fortran-ordered) float64 working array, so that
each channel's values of a 2-D (N, C) batch are contiguous, and normalizes that working array
in place to save memory. forward(x, gamma, beta, eps=1e-5) -> (y, cache),
backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the working array comes from `np.asfortranarray(x, dtype=np.float64)`,
which returns x ITSELF when x is already a Fortran-contiguous float64 array (also any array
that is both C- and F-contiguous, such as (N, 1) or (1, C)). The in-place centring and scaling
then overwrite the caller's x with x_hat. Every returned value is right; float32 input and
C-ordered / strided float64 input are never touched.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    w = np.asfortranarray(x, dtype=np.float64)
    mu = w.mean(axis=axes, keepdims=True)
    w -= mu
    var = (w * w).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    w *= rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = g * w + np.asarray(beta, np.float64).reshape(bs)
    return y.astype(x.dtype), (w.copy(), rstd, g)


def backward(dy, cache):
    xhat, rstd, g = cache
    axes = (0, *tuple(range(2, dy.ndim)))
    d = dy.astype(np.float64)
    m = d.size // d.shape[1]
    dbeta = d.sum(axis=axes, keepdims=True)
    dgamma = (d * xhat).sum(axis=axes, keepdims=True)
    dx = g * rstd * (d - (dbeta + xhat * dgamma) / m)
    return dx.astype(dy.dtype), dgamma.ravel().astype(dy.dtype), dbeta.ravel().astype(dy.dtype)
