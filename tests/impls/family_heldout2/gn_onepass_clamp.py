import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    m1 = xg.mean(axis=2, keepdims=True)
    m2 = (xg ** 2).mean(axis=2, keepdims=True)
    var = np.maximum(m2 - m1 ** 2, 0.0)   # E[x^2] - E[x]^2, clamp rounding noise
    inv = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - m1) * inv).reshape(N, C, H, W)
    return gamma * xhat + beta, (G, xhat, inv, gamma)


def spatial_groupnorm_backward(dout, cache):
    G, xhat, inv, gamma = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    g = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    dx = inv * (g - g.mean(axis=2, keepdims=True) - xh * (g * xh).mean(axis=2, keepdims=True))
    return dx.reshape(N, C, H, W), dgamma, dbeta
