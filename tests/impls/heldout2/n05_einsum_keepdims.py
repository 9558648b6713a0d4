"""Batch norm with np.einsum reductions, keepdims everywhere, eps as an array,
and gamma/beta defaulting to None (no affine transform)."""
import numpy as np

EPS = np.array(1e-5)


def bn_forward(x, gamma=None, beta=None, eps=EPS):
    eps = np.asarray(eps, dtype=x.dtype)
    m = x.size // x.shape[1]
    shp = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    mean = (np.einsum("ncs->c", x3) / m).reshape(shp)
    xc = x - mean
    xc3 = xc.reshape(x3.shape)
    var = (np.einsum("ncs,ncs->c", xc3, xc3) / m).reshape(shp)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv
    y = xhat
    if gamma is not None:
        y = y * np.asarray(gamma, dtype=x.dtype).reshape(shp)
    if beta is not None:
        y = y + np.asarray(beta, dtype=x.dtype).reshape(shp)
    return y, {"xhat": xhat, "inv": inv, "gamma": gamma, "beta": beta, "m": m, "shp": shp}


def bn_backward(dy, cache):
    xhat, inv, gamma, m, shp = cache["xhat"], cache["inv"], cache["gamma"], cache["m"], cache["shp"]
    dy3 = dy.reshape(dy.shape[0], dy.shape[1], -1)
    dbeta = np.einsum("ncs->c", dy3)
    dgamma = np.einsum("ncs,ncs->c", dy3, xhat.reshape(dy3.shape))
    g = np.ones(shp, dtype=dy.dtype) if gamma is None else np.asarray(gamma, dtype=dy.dtype).reshape(shp)
    dx = g * inv * (dy - dbeta.reshape(shp) / m - xhat * dgamma.reshape(shp) / m)
    return (dx,
            None if gamma is None else dgamma,
            None if cache["beta"] is None else dbeta)
