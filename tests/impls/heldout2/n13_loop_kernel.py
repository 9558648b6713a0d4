"""Loop-kernel batch norm in the style of a numba prototype: explicit loops over
channels and samples on an (N, C, S) view, centring in place to save a buffer."""
import numpy as np


def bn_loop_forward(x, gamma, beta, eps=1e-5):
    N, C = x.shape[0], x.shape[1]
    xv = x.reshape(N, C, -1)
    S = xv.shape[2]
    M = N * S
    y = np.empty_like(xv)
    xhat = np.empty_like(xv)
    rstd = np.empty(C, dtype=x.dtype)
    for c in range(C):
        acc = 0.0
        for n in range(N):
            acc += xv[n, c].sum()
        mean = acc / M
        ssq = 0.0
        for n in range(N):
            xv[n, c] -= mean
            ssq += (xv[n, c] * xv[n, c]).sum()
        r = 1.0 / np.sqrt(ssq / M + eps)
        rstd[c] = r
        for n in range(N):
            xhat[n, c] = xv[n, c] * r
            y[n, c] = gamma[c] * xhat[n, c] + beta[c]
    return y.reshape(x.shape), (xhat, rstd, gamma, x.shape)


def bn_loop_backward(dy, cache):
    xhat, rstd, gamma, shape = cache
    N, C = shape[0], shape[1]
    dyv = dy.reshape(N, C, -1)
    M = N * dyv.shape[2]
    dx = np.empty_like(dyv)
    dgamma = np.zeros(C, dtype=dy.dtype)
    dbeta = np.zeros(C, dtype=dy.dtype)
    for c in range(C):
        for n in range(N):
            dbeta[c] += dyv[n, c].sum()
            dgamma[c] += (dyv[n, c] * xhat[n, c]).sum()
        k = gamma[c] * rstd[c] / M
        for n in range(N):
            dx[n, c] = k * (M * dyv[n, c] - dbeta[c] - xhat[n, c] * dgamma[c])
    return dx.reshape(shape), dgamma, dbeta
