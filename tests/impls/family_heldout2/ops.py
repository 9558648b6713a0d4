import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    mean = np.mean(x, axis=-1, keepdims=True)
    d = x - mean
    var = np.mean(d * d, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    y = d * rstd
    return y * gamma + beta, (y, rstd, gamma)


def backward(dy, cache):
    y, rstd, gamma = cache
    red = tuple(range(dy.ndim - 1))
    dgamma = np.sum(dy * y, axis=red)
    dbeta = np.sum(dy, axis=red)
    g = dy * gamma
    dx = rstd * (g - g.mean(-1, keepdims=True) - y * (g * y).mean(-1, keepdims=True))
    return dx, dgamma, dbeta
