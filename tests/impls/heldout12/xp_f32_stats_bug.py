"""Chainer-style functional batch normalization (`xp = get_array_module(x)`), with the batch
statistics accumulated in float32 "for speed on the GPU", whatever the input dtype."""

import numpy


def get_array_module(*args):
    for a in args:
        mod = type(a).__module__.split(".")[0]
        if mod == "cupy":  # pragma: no cover - no GPU here
            import cupy

            return cupy
    return numpy


def _reduce_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _as_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def bn_forward(x, gamma, beta, eps=2e-5):
    xp = get_array_module(x, gamma, beta)
    axes = _reduce_axes(x)
    mean = x.mean(axis=axes, keepdims=True, dtype=xp.float32)
    xc = x - mean
    var = xp.square(xc).mean(axis=axes, keepdims=True, dtype=xp.float32)
    inv_std = 1.0 / xp.sqrt(var + eps)
    x_hat = xc * inv_std
    y = _as_channel(gamma, x.ndim) * x_hat + _as_channel(beta, x.ndim)
    return y.astype(x.dtype, copy=False), (x_hat, inv_std, gamma)


def bn_backward(gy, cache):
    x_hat, inv_std, gamma = cache
    xp = get_array_module(gy)
    axes = _reduce_axes(gy)
    m = gy.size // gy.shape[1]
    ggamma = xp.sum(gy * x_hat, axis=axes)
    gbeta = xp.sum(gy, axis=axes)
    coeff = _as_channel(gamma, gy.ndim) * inv_std
    gx = coeff * (gy - _as_channel(gbeta, gy.ndim) / m - x_hat * _as_channel(ggamma, gy.ndim) / m)
    return gx.astype(gy.dtype, copy=False), ggamma, gbeta
