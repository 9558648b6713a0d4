"""`normalize_fwd` / `normalize_bwd`: batch norm with a std computed first.
BUG: eps is added to the standard deviation, outside the square root: (x - mu) / (std + eps);
the backward is the textbook one with the same (std + eps)."""

import numpy as np


def normalize_fwd(x, gamma, beta, eps=1e-5):
    red = (0, *range(2, x.ndim))
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    xf = x.astype(np.float64)
    mu = xf.mean(axis=red, keepdims=True)
    std = xf.std(axis=red, keepdims=True)
    xhat = (xf - mu) / (std + eps)  # BUG: eps outside the root
    out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    return out.astype(x.dtype), dict(xhat=xhat, denom=std + eps, gamma=gamma, red=red)


def normalize_bwd(dout, cache):
    xhat, denom, gamma, red = cache["xhat"], cache["denom"], cache["gamma"], cache["red"]
    bshape = (1, -1) + (1,) * (dout.ndim - 2)
    g = dout.astype(np.float64)
    m = g.size // g.shape[1]
    dbeta = g.sum(axis=red)
    dgamma = (g * xhat).sum(axis=red)
    dxhat = g * gamma.reshape(bshape)
    dx = (
        m * dxhat
        - dxhat.sum(axis=red, keepdims=True)
        - xhat * (dxhat * xhat).sum(axis=red, keepdims=True)
    ) / (m * denom)
    return dx.astype(dout.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
