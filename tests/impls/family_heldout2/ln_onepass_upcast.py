import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    # accumulate sums in double precision, single sweep
    eps = ln_param.get("eps", 1e-5)
    x64 = x.astype(np.float64)
    D = x.shape[1]
    s1 = x64.sum(axis=1, keepdims=True)
    s2 = (x64 * x64).sum(axis=1, keepdims=True)
    mean = s1 / D
    var = s2 / D - mean * mean
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x64 - mean) * rstd
    out = (gamma.astype(np.float64) * xhat + beta).astype(x.dtype)
    return out, (xhat, rstd, gamma)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    d = dout.astype(np.float64)
    dgamma = (d * xhat).sum(axis=0).astype(dout.dtype)
    dbeta = d.sum(axis=0).astype(dout.dtype)
    g = d * gamma
    dx = rstd * (g - g.mean(axis=1, keepdims=True)
                 - xhat * (g * xhat).mean(axis=1, keepdims=True))
    return dx.astype(dout.dtype), dgamma, dbeta
