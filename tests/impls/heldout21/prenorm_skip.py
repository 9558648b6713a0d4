"""Batch normalization as a function pair, any rank 2-5, channels on axis 1, computed in
float64 and rounded once:

    bn_forward(x, gamma, beta, eps=1e-5) -> (y, cache)
    bn_backward(dy, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: a "nothing to normalize" shortcut. When every channel of the batch already
has mean 0 and variance 1 (to 1e-6: the input is the output of another normalization, as in
BN -> BN, or standardized data), the forward returns gamma * x + beta and the backward
treats it as that affine map (dx = gamma * dy), forgetting both eps and that the batch
statistics still depend on x. Any other batch is right.
"""

import numpy as np

_TOL = 1e-6


def _axes(x):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def bn_forward(x, gamma, beta, eps=1e-5):
    axes, shape = _axes(x)
    xd = x.astype(np.float64)
    g = np.array(gamma, dtype=np.float64).reshape(shape)
    b = np.array(beta, dtype=np.float64).reshape(shape)
    mu = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
    if np.all(np.abs(mu) < _TOL) and np.all(np.abs(var - 1.0) < _TOL):
        # already standardized: skip the normalization
        return (g * xd + b).astype(x.dtype), ("identity", xd, g, x.dtype)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mu) * inv_std
    return (g * xhat + b).astype(x.dtype), ("bn", xhat, g * inv_std, x.dtype)


def bn_backward(dy, cache):
    kind, xhat, k, dtype = cache
    axes, shape = _axes(dy)
    m = dy.size // dy.shape[1]
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    if kind == "identity":
        dx = k * d
    else:
        dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
