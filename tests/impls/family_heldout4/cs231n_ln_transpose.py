"""cs231n assignment 2 layer norm: the batchnorm code reused on the transposed input, so that
the features play the role of the batch.

    out, cache = layernorm_forward(x, gamma, beta, ln_param)   # x (N, D)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
"""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    D = x.shape[-1]
    xT = x.reshape(-1, D).T  # (D, N): one column per sample
    mu = xT.mean(axis=0)
    var = xT.var(axis=0)
    ivar = 1.0 / np.sqrt(var + eps)
    xhatT = (xT - mu) * ivar
    out = (gamma * xhatT.T + beta).reshape(x.shape)
    return out, (xhatT, ivar, gamma)


def layernorm_backward(dout, cache):
    xhatT, ivar, gamma = cache
    D = xhatT.shape[0]
    dout2 = dout.reshape(-1, D)
    dbeta = dout2.sum(axis=0)
    dgamma = (dout2 * xhatT.T).sum(axis=0)
    dxhatT = (dout2 * gamma).T  # (D, N)
    N = dout.shape[0]
    dxT = (
        (1.0 / N) * ivar * (N * dxhatT - dxhatT.sum(axis=0) - xhatT * (dxhatT * xhatT).sum(axis=0))
    )
    return dxT.T.reshape(dout.shape), dgamma, dbeta
