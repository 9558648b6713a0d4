import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    # "fast" path: statistics in single precision, one sweep over the data
    eps = ln_param.get("eps", 1e-5)
    xf = x.astype(np.float32)
    mean = xf.mean(axis=1, keepdims=True)
    var = (xf * xf).mean(axis=1, keepdims=True) - mean * mean
    rstd = 1.0 / np.sqrt(var + np.float32(eps))
    xhat = (xf - mean) * rstd
    out = (gamma * xhat + beta).astype(x.dtype)
    return out, (xhat, rstd, gamma)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    D = xhat.shape[1]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    g = dout * gamma
    dx = rstd * (g - g.mean(axis=1, keepdims=True)
                 - xhat * (g * xhat).mean(axis=1, keepdims=True))
    return dx.astype(dout.dtype), dgamma.astype(dout.dtype), dbeta
