import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """x: (N, C, H, W); gamma, beta: (1, C, 1, 1)."""
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mean = xg.mean(axis=(2, 3, 4), keepdims=True)
    var = xg.var(axis=(2, 3, 4), keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mean) * ivar).reshape(N, C, H, W)
    out = gamma * xhat + beta
    cache = (G, xhat, ivar, gamma)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    G, xhat, ivar, gamma = cache
    N, C, H, W = dout.shape
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3), keepdims=True)
    dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(N, G, C // G, H, W)
    xh = xhat.reshape(N, G, C // G, H, W)
    m = dxhat.mean(axis=(2, 3, 4), keepdims=True)
    mx = (dxhat * xh).mean(axis=(2, 3, 4), keepdims=True)
    dx = ((dxhat - m - xh * mx) * ivar).reshape(N, C, H, W)
    return dx, dgamma, dbeta
