"""Batch normalization as a function pair, any rank 2-5, channels on axis 1, in float64 and
rounded once; the backward works on a (N, C, rest) view of dout to share one code path
between ranks:

    forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    backward(dout, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the backward centres dout in place in that view ("saves a temporary"). For
a float64 dout whose reshape is a view (any 2-D dout, a C-contiguous 4-D one) `astype(copy=
False)` copies nothing, so the caller's dout is overwritten (the gradient of a residual branch
that shares it, a dy reused for another backward). float32 and the 4-D layouts reshape cannot
view are copied first and left alone; the returned numbers are right everywhere.
"""

import numpy as np


def forward(x, gamma, beta, eps=1e-5):
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1).astype(np.float64)
    mu = x3.mean(axis=(0, 2), keepdims=True)
    var = ((x3 - mu) ** 2).mean(axis=(0, 2), keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (x3 - mu) * ivar
    g = np.asarray(gamma, dtype=np.float64).reshape(1, c, 1)
    b = np.asarray(beta, dtype=np.float64).reshape(1, c, 1)
    out = (g * xhat + b).reshape(x.shape)
    return out.astype(x.dtype), (xhat, ivar, g, x.shape, x.dtype)


def backward(dout, cache):
    xhat, ivar, g, shape, dtype = cache
    n, c = shape[:2]
    d = dout.reshape(n, c, -1).astype(np.float64, copy=False)
    dbeta = d.sum(axis=(0, 2))
    dgamma = (d * xhat).sum(axis=(0, 2))
    m = d.shape[0] * d.shape[2]
    d -= dbeta.reshape(1, c, 1) / m
    dx = g * ivar * (d - xhat * dgamma.reshape(1, c, 1) / m)
    return dx.reshape(shape).astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
