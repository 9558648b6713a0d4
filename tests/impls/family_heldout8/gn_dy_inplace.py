"""cs231n spatial group norm, (N, C, H, W), gamma/beta of shape (1, C, 1, 1)."""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mu = xg.mean(axis=(2, 3, 4), keepdims=True)
    var = xg.var(axis=(2, 3, 4), keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mu) * rstd).reshape(N, C, H, W)
    out = gamma * xhat + beta
    return out, (xhat, rstd, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, rstd, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dout *= gamma  # becomes dL/dxhat
    g = dout.reshape(N, G, C // G, H, W)
    xh = xhat.reshape(N, G, C // G, H, W)
    ax = (2, 3, 4)
    dx = rstd * (g - g.mean(axis=ax, keepdims=True) - xh * (g * xh).mean(axis=ax, keepdims=True))
    return dx.reshape(N, C, H, W), dgamma, dbeta
