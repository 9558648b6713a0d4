"""cs231n-style LayerNorm; rows with no spread (padding tokens) are mapped to beta and get
no gradient, so padded positions cannot blow up through 1/sqrt(eps)."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=-1, keepdims=True)
    live = var > 0
    rstd = np.where(live, 1.0 / np.sqrt(var + eps), 0.0)
    xhat = xc * rstd
    out = gamma * xhat + beta
    cache = (xhat, rstd, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    D = dout.shape[-1]
    lead = tuple(range(dout.ndim - 1))
    dgamma = (dout * xhat).sum(axis=lead)
    dbeta = dout.sum(axis=lead)
    dxhat = dout * gamma
    dx = (rstd / D) * (
        D * dxhat
        - dxhat.sum(axis=-1, keepdims=True)
        - xhat * (dxhat * xhat).sum(axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta
