import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = np.float32(ln_param.get("eps", 1e-5))
    x = x.astype(np.float32)
    mu = np.mean(x, axis=1, keepdims=True, dtype=np.float32)
    var = np.var(x, axis=1, keepdims=True, dtype=np.float32)
    rstd = np.float32(1.0) / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    out = gamma.astype(np.float32) * xhat + beta.astype(np.float32)
    return out, (xhat, rstd, gamma.astype(np.float32))


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    dout = dout.astype(np.float32)
    N, D = dout.shape
    dbeta = dout.sum(axis=0, dtype=np.float32)
    dgamma = (dout * xhat).sum(axis=0, dtype=np.float32)
    g = dout * gamma
    dx = (rstd / D) * (D * g - g.sum(axis=1, keepdims=True)
                       - xhat * (g * xhat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta
