import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = np.mean(x, axis=1, keepdims=True)
    sigma = np.std(x, axis=1, keepdims=True)
    xhat = (x - mu) / (sigma + eps)
    return gamma * xhat + beta, (x, xhat, sigma, gamma, eps)


def layernorm_backward(dout, cache):
    x, xhat, sigma, gamma, eps = cache
    D = x.shape[1]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    s = sigma + eps
    # consistent with the forward above: d/dx of (x-mu)/(sigma+eps)
    dsigma = -np.sum(dxhat * (x - x.mean(axis=1, keepdims=True)), axis=1, keepdims=True) / s ** 2
    dx = dxhat / s - np.sum(dxhat, axis=1, keepdims=True) / (D * s)
    dx += dsigma * (x - x.mean(axis=1, keepdims=True)) / (D * sigma)
    return dx, dgamma, dbeta
