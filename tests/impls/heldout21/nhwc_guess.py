"""Batch normalization as a function pair for both layouts: channels-first (N, C, ...) and,
for 3-D to 5-D input, channels-last (N, ..., C) as TensorFlow data arrives; the layout is
guessed from gamma's length. float64 inside, rounded once:

    batchnorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the guess tries channels-last first (`x.shape[-1] == len(gamma)`), so a
channels-first input whose last axis happens to have C entries (N, C, H, W) with W == C, or
(N, C, L) with L == C, is normalized over the wrong axes. Any other shape is right.
"""

import numpy as np


def _channel_axis(x, c):
    if x.ndim > 2 and x.shape[-1] == c:
        return x.ndim - 1
    return 1


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    gamma = np.asarray(gamma, dtype=np.float64)
    ax = _channel_axis(x, gamma.shape[0])
    axes = tuple(i for i in range(x.ndim) if i != ax)
    shape = [1] * x.ndim
    shape[ax] = -1
    xd = x.astype(np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mu) * ivar
    g = gamma.reshape(shape)
    out = g * xhat + np.asarray(beta, dtype=np.float64).reshape(shape)
    return out.astype(x.dtype), (xhat, g * ivar, axes, shape, x.dtype)


def batchnorm_backward(dout, cache):
    xhat, k, axes, shape, dtype = cache
    d = dout.astype(np.float64)
    m = d.size // xhat.shape[next(i for i in range(d.ndim) if i not in axes)]
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
