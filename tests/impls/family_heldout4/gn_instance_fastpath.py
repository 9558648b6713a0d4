"""Spatial group norm, cs231n assignment interface:

    out, cache = spatial_groupnorm_forward(x, gamma, beta, G, gn_param)   # gamma/beta (1, C, 1, 1)
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)

x is (N, C, ...). One channel per group (G == C) is instance norm, which takes a shortcut
through the usual mean/std helper instead of the grouped reshape."""

import numpy as np


def _instance_stats(x, eps):
    axes = tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return mu, 1.0 / (std + eps)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C = x.shape[:2]
    if C // G == 1:
        mu, inv = _instance_stats(x, eps)
        xhat = (x - mu) * inv
        inv_g = inv.reshape(N, G, 1)
    else:
        xg = x.reshape(N, G, -1)
        mu = xg.mean(axis=2, keepdims=True)
        var = xg.var(axis=2, keepdims=True)
        inv_g = 1.0 / np.sqrt(var + eps)
        xhat = ((xg - mu) * inv_g).reshape(x.shape)
    out = gamma * xhat + beta
    return out, (xhat, inv_g, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, inv_g, gamma, G = cache
    N, _C = dout.shape[:2]
    axes = (0, *tuple(range(2, dout.ndim)))
    dbeta = dout.sum(axis=axes, keepdims=True)
    dgamma = (dout * xhat).sum(axis=axes, keepdims=True)
    gh = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    dx = inv_g * (gh - gh.mean(axis=2, keepdims=True) - xh * (gh * xh).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
