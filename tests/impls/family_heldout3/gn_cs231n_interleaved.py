"""cs231n-style spatial group normalization, parameters of shape (1, C, 1, 1)."""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C = x.shape[:2]
    rest = x.shape[2:]
    # split the channels into G groups
    xg = x.reshape((N, C // G, G, *rest))
    axes = (1, *tuple(range(3, xg.ndim)))
    mu = xg.mean(axis=axes, keepdims=True)
    xc = xg - mu
    var = (xc**2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (xc * inv).reshape(x.shape)
    pshape = (1, C) + (1,) * len(rest)
    out = np.reshape(gamma, pshape) * xhat + np.reshape(beta, pshape)
    cache = (xhat, inv, np.reshape(gamma, pshape), G, axes, np.shape(gamma))
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    xhat, inv, gamma, G, axes, pshape0 = cache
    N, C = dout.shape[:2]
    rest = dout.shape[2:]
    red = (0, *tuple(range(2, dout.ndim)))
    dgamma = (dout * xhat).sum(axis=red).reshape(pshape0)
    dbeta = dout.sum(axis=red).reshape(pshape0)
    g = (dout * gamma).reshape((N, C // G, G, *rest))
    xh = xhat.reshape((N, C // G, G, *rest))
    dx = inv * (g - g.mean(axis=axes, keepdims=True) - xh * (g * xh).mean(axis=axes, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
