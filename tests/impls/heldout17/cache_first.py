"""Function pair that returns its cache first and takes it first.  CORRECT.

Style: code written in the JAX custom_vjp habit but in NumPy: the forward returns
`(residuals, y)` with the residuals a dict under short, unusual keys ("xc", "rs", "g",
"red"), and the backward takes `(residuals, g)` in that order and returns
(dx, dgamma, dbeta).  Any rank, channels on axis 1; statistics over every other axis.

    bncheck verify cache_first.py
"""

import numpy as np


def _reduce_axes(ndim):
    return (0, *range(2, ndim))


def _bcast(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def standardize_fwd(x, gamma, beta, eps=1e-5):
    red = _reduce_axes(x.ndim)
    mu = x.mean(axis=red, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=red, keepdims=True)
    rs = 1.0 / np.sqrt(var + eps)
    g = _bcast(gamma, x.ndim)
    y = g * (xc * rs) + _bcast(beta, x.ndim)
    res = {"xc": xc, "rs": rs, "g": g, "red": red}
    return res, y


def standardize_bwd(res, g_out):
    xc, rs, g, red = res["xc"], res["rs"], res["g"], res["red"]
    xhat = xc * rs
    dbeta = g_out.sum(axis=red)
    dgamma = (g_out * xhat).sum(axis=red)
    gx = g_out * g
    dx = rs * (
        gx - gx.mean(axis=red, keepdims=True) - xhat * (gx * xhat).mean(axis=red, keepdims=True)
    )
    return dx, dgamma, dbeta
