"""A BN whose only flaw is numerical: the variance as E[x^2] - E[x]^2 in float64, which cancels
catastrophically on data with a large mean. No formula of the catalogue: it must fail and be
named one-pass-variance (a rounding model), in particular not float32 arithmetic."""

# ruff: noqa: F841 (kept as the public code writes it)

import numpy as np


# correct BN except the variance is computed in one pass as E[x^2] - E[x]^2 (all in float64)
def forward(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    var = (x * x).mean(axis=0) - mu * mu
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def backward(dy, cache):
    xhat, gamma, var, eps = cache
    m = dy.shape[0]
    dx = gamma / np.sqrt(var + eps) * (dy - dy.mean(0) - xhat * (dy * xhat).mean(0))
    return dx, (dy * xhat).sum(0), dy.sum(0)
