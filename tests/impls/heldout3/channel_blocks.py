"""``bn_forward(x, gamma, beta, eps)`` / ``bn_backward(dy, cache)`` whose backward has a
"vectorised" path that handles 8 channels at a time when there are at least 8 channels.

PLANTED MISTAKE: in that 8-channel path dbeta is the mean of dy over the batch instead of
its sum. With fewer than 8 channels every gradient is right; dx and dgamma are always right.
"""

import numpy as np

LANES = 8


def _rows(a):
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def bn_forward(x, gamma, beta, eps=1e-5):
    x2 = _rows(x)
    mean = x2.mean(axis=0)
    var = ((x2 - mean) ** 2).mean(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    xh2 = (x2 - mean) * inv
    y2 = xh2 * gamma + beta
    y = np.moveaxis(y2.reshape(np.moveaxis(x, 1, -1).shape), -1, 1)
    return y, (xh2, inv, gamma)


def bn_backward(dy, cache):
    xh2, inv, gamma = cache
    dy2 = _rows(dy)
    c = dy2.shape[1]
    dgamma = np.empty(c, dy.dtype)
    dbeta = np.empty(c, dy.dtype)
    if c >= LANES:
        for c0 in range(0, c, LANES):
            sl = slice(c0, c0 + LANES)
            dgamma[sl] = (dy2[:, sl] * xh2[:, sl]).sum(axis=0)
            dbeta[sl] = dy2[:, sl].mean(axis=0)
    else:
        dgamma[:] = (dy2 * xh2).sum(axis=0)
        dbeta[:] = dy2.sum(axis=0)
    g = dy2 * gamma
    dx2 = inv * (g - g.mean(axis=0) - xh2 * (g * xh2).mean(axis=0))
    dx = np.moveaxis(dx2.reshape(np.moveaxis(dy, 1, -1).shape), -1, 1)
    return dx, dgamma, dbeta
