"""BN laid out like a vectorised kernel: channels in blocks of 4 lanes, then a scalar tail loop."""

import numpy as np

LANES = 4


def vec_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * gamma.reshape(bs) + beta.reshape(bs), (xhat, rstd, gamma)


def vec_backward(dout, cache):
    xhat, rstd, gamma = cache
    axes = (0,) + tuple(range(2, dout.ndim))
    C = dout.shape[1]
    m = xhat.size // C
    dx = np.empty_like(xhat)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    full = C - C % LANES
    for c0 in range(0, full, LANES):  # vector body
        sl = slice(c0, c0 + LANES)
        g, xh = dout[:, sl], xhat[:, sl]
        db = g.sum(axis=axes, keepdims=True)
        dg = (g * xh).sum(axis=axes, keepdims=True)
        k = gamma[sl].reshape((1, -1) + (1,) * (dout.ndim - 2)) * rstd[:, sl]
        dx[:, sl] = k * (g - db / m - xh * dg / m)
        dbeta[sl] = db.reshape(-1)
        dgamma[sl] = dg.reshape(-1)
    for c in range(full, C):  # scalar tail
        g, xh = dout[:, c], xhat[:, c]
        db = g.sum()
        dg = (g * xh).sum()
        dx[:, c] = gamma[c] * rstd[:, c] * (g - xh * dg / m)
        dbeta[c] = db
        dgamma[c] = dg
    return dx, dgamma, dbeta
