"""A BN written one channel at a time, as in a teaching notebook: plain Python loop over C."""

import numpy as np


def channel_loop_forward(x, gamma, beta, eps=1e-5):
    y = np.empty_like(x)
    stats = []
    for c in range(x.shape[1]):
        xc = x[:, c]
        mu = xc.mean()
        d = xc - mu
        inv = 1.0 / np.sqrt((d * d).mean() + eps)
        y[:, c] = gamma[c] * (d * inv) + beta[c]
        stats.append((mu, inv))
    return y, (x, gamma, stats)


def channel_loop_backward(dout, cache):
    x, gamma, stats = cache
    dx = np.empty_like(x)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    for c, (mu, inv) in enumerate(stats):
        xhat = (x[:, c] - mu) * inv
        g = dout[:, c]
        m = g.size
        dbeta[c] = g.sum()
        dgamma[c] = (g * xhat).sum()
        dx[:, c] = (gamma[c] * inv) * (g - dbeta[c] / m - xhat * (dgamma[c] / m))
    return dx, dgamma, dbeta
