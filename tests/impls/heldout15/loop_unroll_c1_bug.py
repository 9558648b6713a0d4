"""BN written as explicit loops, in the style of code prepared for Numba's @njit (plain Python
here when Numba is absent): channels are processed two at a time (an unrolled pair) with a
tail for an odd channel count; inside, a loop over the samples with the spatial row as a
vector. forward(x, gamma, beta, eps) -> (y, cache); backward(dy, cache) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the tail guard is `C > 2 and C % 2 == 1`, written for C = 3, 5, ...; with a
single channel (C = 1) neither the pair loop nor the tail runs, so that channel keeps the
initial statistics (mean 0, variance 1): y = gamma * x / sqrt(1 + eps) + beta, and the
backward leaves dx, dgamma, dbeta at zero. Every C >= 2 (odd or even) is exact.
"""

import numpy as np

try:  # pragma: no cover - Numba is optional
    from numba import njit
except ImportError:  # pragma: no cover

    def njit(fn):
        return fn


@njit
def _channel_stats(x3, c):
    n_rows, length = x3.shape[0], x3.shape[2]
    total = 0.0
    for n in range(n_rows):
        total += x3[n, c, :].sum()
    mu = total / (n_rows * length)
    sq = 0.0
    for n in range(n_rows):
        dev = x3[n, c, :] - mu
        sq += (dev * dev).sum()
    return mu, sq / (n_rows * length)


@njit
def _channel_grads(d3, xh3, c):
    s1 = 0.0
    s2 = 0.0
    for n in range(d3.shape[0]):
        s1 += d3[n, c, :].sum()
        s2 += (d3[n, c, :] * xh3[n, c, :]).sum()
    return s1, s2


def _as3(a):
    a = np.asarray(a, dtype=np.float64)
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _channels(n_ch):
    out = []
    for c in range(0, n_ch - 1, 2):
        out.append(c)
        out.append(c + 1)
    if n_ch > 2 and n_ch % 2 == 1:
        out.append(n_ch - 1)
    return out


def forward(x, gamma, beta, eps=1e-5):
    x3 = _as3(x)
    n_ch = x3.shape[1]
    mean = np.zeros(n_ch)
    var = np.ones(n_ch)
    for c in _channels(n_ch):
        mean[c], var[c] = _channel_stats(x3, c)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x3 - mean[None, :, None]) * rstd[None, :, None]
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    y = xhat * g[None, :, None] + b[None, :, None]
    return y.reshape(x.shape).astype(x.dtype), (xhat, rstd, g, x.shape)


def backward(dy, cache):
    xhat, rstd, g, shape = cache
    d3 = _as3(dy)
    n_ch = d3.shape[1]
    m = d3.shape[0] * d3.shape[2]
    dx = np.zeros_like(d3)
    dgamma = np.zeros(n_ch)
    dbeta = np.zeros(n_ch)
    for c in _channels(n_ch):
        s1, s2 = _channel_grads(d3, xhat, c)
        dbeta[c], dgamma[c] = s1, s2
        k = g[c] * rstd[c]
        dx[:, c, :] = k * (d3[:, c, :] - s1 / m - xhat[:, c, :] * (s2 / m))
    return dx.reshape(shape).astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
