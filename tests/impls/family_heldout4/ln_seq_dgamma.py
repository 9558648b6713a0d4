"""LayerNorm for transformer activations (batch, seq, hidden), also taking (batch, hidden)
and any (..., hidden). cs231n-style interface:

    y, cache = layernorm_forward(x, gamma, beta, ln_param)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
"""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    if dout.ndim == 3:
        # (batch, seq, hidden): per-token contributions, reduced per sequence then over the batch
        dgamma = (dout * xhat).mean(axis=1).sum(axis=0)
        dbeta = dout.mean(axis=1).sum(axis=0)
    else:
        lead = tuple(range(dout.ndim - 1))
        dgamma = (dout * xhat).sum(axis=lead)
        dbeta = dout.sum(axis=lead)
    g = dout * gamma
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta
