"""Functional BN, ``forward(x, gamma, beta, eps)`` / ``backward(dy, cache)`` with a dict cache,
that normalizes by ``np.sqrt(var) + eps`` (the "avoid division by zero" habit) and
backpropagates that formula consistently.

WRONG (one mistake): eps outside the square root in training (y, dx and dgamma follow from it;
the backward is the exact derivative of this forward). Stateless. (N, C) and (N, C, H, W).
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = np.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    var = np.mean(xc**2, axis=axes, keepdims=True)
    sd = np.sqrt(var)
    denom = sd + eps
    x_hat = xc / denom
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    cache = {"xc": xc, "sd": sd, "denom": denom, "x_hat": x_hat, "gamma": gamma, "axes": axes}
    return out, cache


def backward(dy, cache):
    xc, sd, denom, x_hat = cache["xc"], cache["sd"], cache["denom"], cache["x_hat"]
    axes = cache["axes"]
    shape = (1, -1) + (1,) * (dy.ndim - 2)
    m = dy.size // dy.shape[1]
    dbeta = np.sum(dy, axis=axes)
    dgamma = np.sum(dy * x_hat, axis=axes)
    dx_hat = dy * cache["gamma"].reshape(shape)
    # x_hat = xc / (sqrt(var) + eps)
    ddenom = -np.sum(dx_hat * xc, axis=axes, keepdims=True) / denom**2
    dvar = ddenom / (2.0 * sd)
    dxc = dx_hat / denom + dvar * 2.0 * xc / m
    dx = dxc - np.sum(dxc, axis=axes, keepdims=True) / m
    return dx, dgamma, dbeta
