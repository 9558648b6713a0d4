"""ConvNeXt "channels_first" LayerNorm in NumPy: statistics over axis 1 of (N, C, ...), weight (C,)."""

import numpy as np


def _bshape(x):
    return (1, -1) + (1,) * (x.ndim - 2)


def cf_layernorm_forward(x, weight, bias, eps=1e-6):
    xf = x.astype(np.float64)
    u = xf.mean(axis=1, keepdims=True)
    xc = xf - u
    s = (xc * xc).mean(axis=1, keepdims=True)
    inv = 1.0 / np.sqrt(s + eps)
    xhat = xc * inv
    w = weight.astype(np.float64).reshape(_bshape(x))
    b = bias.astype(np.float64).reshape(_bshape(x))
    y = w * xhat + b
    return y.astype(x.dtype), (xhat, inv, w, x.dtype, weight.dtype)


def cf_layernorm_backward(dy, cache):
    xhat, inv, w, xdt, pdt = cache
    g = dy.astype(np.float64)
    red = (0,) + tuple(range(2, g.ndim))
    dweight = (g * xhat).sum(axis=red)
    dbias = g.sum(axis=red)
    gx = g * w
    c = xhat.shape[1]
    dx = inv * (gx - gx.sum(axis=1, keepdims=True) / c - xhat * (gx * xhat).sum(axis=1, keepdims=True) / c)
    return dx.astype(xdt), dweight.astype(pdt), dbias.astype(pdt)
