"""LayerNorm over the last axis (any rank) that avoids copies: the input is flattened in
memory order (ravel(order="K") never copies a contiguous array) and viewed as rows of D."""

import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    rows = x.ravel(order="K").reshape(-1, D)
    mu = rows.mean(axis=1, keepdims=True)
    xc = rows - mu
    var = (xc * xc).mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = (xhat * gamma + beta).reshape(x.shape)
    return y, (xhat, rstd, gamma, x.shape)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma, shape = cache
    D = xhat.shape[1]
    g = dout.ravel(order="K").reshape(-1, D)
    dgamma = (g * xhat).sum(axis=0)
    dbeta = g.sum(axis=0)
    gh = g * gamma
    dx = rstd * (
        gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)
    )
    return dx.reshape(shape), dgamma, dbeta
