"""BN whose outputs are converted to nested Python lists for a JSON logging pipeline."""

import numpy as np


def lst_forward(x, gamma, beta, eps=1e-5):
    arr = np.asarray(x)
    red = (0, *range(2, arr.ndim))
    shp = (1, -1) + (1,) * (arr.ndim - 2)
    mu = arr.mean(axis=red, keepdims=True)
    xc = arr - mu
    inv = 1 / np.sqrt((xc**2).mean(axis=red, keepdims=True) + eps)
    xhat = xc * inv
    y = xhat * gamma.reshape(shp) + beta.reshape(shp)
    return y.tolist(), {"xhat": xhat, "inv": inv, "gamma": gamma}


def lst_backward(dy, cache):
    d = np.asarray(dy)
    xhat, inv, gamma = cache["xhat"], cache["inv"], cache["gamma"]
    red = (0, *range(2, d.ndim))
    shp = (1, -1) + (1,) * (d.ndim - 2)
    m = d.size // d.shape[1]
    db = d.sum(axis=red)
    dg = (d * xhat).sum(axis=red)
    dx = gamma.reshape(shp) * inv * (d - db.reshape(shp) / m - xhat * dg.reshape(shp) / m)
    return dx.tolist(), dg.tolist(), db.tolist()
