"""cs231n-style layer norm that saves memory by normalizing x in place."""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=-1, keepdims=True)
    x -= mu
    var = (x * x).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    x *= rstd
    out = gamma * x + beta
    return out, (x, rstd, gamma)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma = cache
    lead = tuple(range(dout.ndim - 1))
    dgamma = (dout * xhat).sum(axis=lead)
    dbeta = dout.sum(axis=lead)
    g = dout * gamma
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta
