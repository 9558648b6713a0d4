"""Batch normalization as a function pair that first scales the whole input by a power of
two at least max|x| ("keeps x**2 far from overflow"; exact, so finite results are bit for bit
those of the unscaled formula, eps scaled with it). Any rank 2-5, channels on axis 1, float64
inside, rounded once:

    bn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)
    bn_backward(dy, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the scale is taken over the WHOLE tensor, not per channel, so one non-finite
value (a NaN from a bad sample, an inf from an overflow upstream) in one channel makes the
scale NaN or inf and every channel's output and gradients NaN. A correct BN keeps channels
independent: the other channels stay finite and right. Finite inputs are right.
"""

import numpy as np


def _geom(a):
    axes = (0, *range(2, a.ndim))
    shape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
    return axes, shape, a.size // a.shape[1]


def bn_forward(x, gamma, beta, eps=1e-5):
    axes, shape, _ = _geom(x)
    xd = x.astype(np.float64)
    amax = np.abs(xd).max() if xd.size else 0.0
    s = 1.0 if amax == 0 else 2.0 ** np.ceil(np.log2(amax))
    xs = xd / s
    mu = xs.mean(axis=axes, keepdims=True)
    var = ((xs - mu) ** 2).mean(axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps / s / s)
    xhat = (xs - mu) * ivar
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    y = g * xhat + np.asarray(beta, dtype=np.float64).reshape(shape)
    return y.astype(x.dtype), (xhat, g * ivar / s, x.dtype)


def bn_backward(dy, cache):
    xhat, k, dtype = cache
    axes, shape, m = _geom(dy)
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
