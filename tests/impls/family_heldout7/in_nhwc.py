"""InstanceNorm for channels-last images (N, H, W, C) as in TF-Addons-style layers, as a
NumPy functional pair; gamma and beta per channel."""

import numpy as np


def instance_norm_forward(x, gamma, beta, eps=1e-5):
    axes = tuple(range(1, x.ndim - 1))
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = np.square(d).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xn = d * inv
    return xn * gamma + beta, {"xn": xn, "inv": inv, "gamma": gamma, "axes": axes}


def instance_norm_backward(dout, cache):
    xn, inv, gamma, axes = cache["xn"], cache["inv"], cache["gamma"], cache["axes"]
    red = (0, *axes)
    dgamma = (dout * xn).sum(axis=red)
    dbeta = dout.sum(axis=red)
    g = dout * gamma
    dx = inv * (g - g.mean(axis=axes, keepdims=True) - xn * (g * xn).mean(axis=axes, keepdims=True))
    return dx, dgamma, dbeta
