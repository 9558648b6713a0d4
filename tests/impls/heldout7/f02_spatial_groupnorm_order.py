"""cs231n-style spatial group norm with (1, C, 1, 1) parameters.

BUG (planted): the groups are formed by reshaping to (N, C // G, G, H, W) and reducing
over axes (1, 3, 4), so group g holds channels g, g + G, g + 2G, ... (strided) instead of
the contiguous block g*C/G ... (g+1)*C/G - 1. The backward is exact for this forward.
"""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, C // G, G, H, W)
    axes = (1, 3, 4)
    mu = xg.mean(axis=axes, keepdims=True)
    var = xg.var(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mu) * inv).reshape(N, C, H, W)
    out = gamma * xhat + beta
    cache = (xhat, inv, gamma, G, axes)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    xhat, inv, gamma, G, axes = cache
    N, C, H, W = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(N, C // G, G, H, W)
    xh = xhat.reshape(N, C // G, G, H, W)
    dx = inv * (
        dxhat
        - dxhat.mean(axis=axes, keepdims=True)
        - xh * (dxhat * xh).mean(axis=axes, keepdims=True)
    )
    return dx.reshape(N, C, H, W), dgamma, dbeta
