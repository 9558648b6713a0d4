"""Functional BN written with numpy.einsum on an (N, C, L) view so that one code path takes
(N, C), (N, C, L) and (N, C, H, W) ((N, C) is viewed as (N, C, 1)): reductions are
einsum('ncl->c'), the per-channel scaling einsum('ncl,c->ncl'), as in course notebooks that
avoid keepdims broadcasting. Two-pass variance. bn_fwd(x, gamma, beta, eps) -> (out, cache);
bn_bwd(dout, cache) -> (dx, dgamma, dbeta).

No planted mistake.
"""

import numpy as np


def _ncl(a):
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], a.shape[1], -1)


def bn_fwd(x, gamma, beta, eps=1e-5):
    x3 = _ncl(x)
    m = x3.shape[0] * x3.shape[2]
    ones = np.ones_like(x3)
    mu = np.einsum("ncl->c", x3) / m
    xc = x3 - np.einsum("c,ncl->ncl", mu, ones)
    var = np.einsum("ncl,ncl->c", xc, xc) / m
    inv = 1.0 / np.sqrt(var + eps)
    xhat = np.einsum("ncl,c->ncl", xc, inv)
    g = np.asarray(gamma, dtype=np.float64)
    out = np.einsum("ncl,c->ncl", xhat, g) + np.einsum(
        "c,ncl->ncl", np.asarray(beta, dtype=np.float64), ones
    )
    return out.reshape(x.shape).astype(x.dtype), (xhat, inv, g, m, x.shape)


def bn_bwd(dout, cache):
    xhat, inv, g, m, shape = cache
    d = _ncl(dout)
    dbeta = np.einsum("ncl->c", d)
    dgamma = np.einsum("ncl,ncl->c", d, xhat)
    centred = d - np.einsum("c,ncl->ncl", dbeta / m, np.ones_like(d))
    centred -= np.einsum("ncl,c->ncl", xhat, dgamma / m)
    dx = np.einsum("ncl,c->ncl", centred, g * inv).reshape(shape)
    return dx.astype(dout.dtype), dgamma.astype(dout.dtype), dbeta.astype(dout.dtype)
