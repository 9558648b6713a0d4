"""LayerNorm over the last axis, transformer style: ``layer_norm_forward(x, weight, bias,
eps)`` with weight and bias of the last axis' size, ``layer_norm_backward(dout, cache)``
returning (dx, dweight, dbias). Two-pass statistics in the input dtype. Correct.
"""

import numpy as np


def layer_norm_forward(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xn = xc * rstd
    return xn * weight + bias, (xn, rstd, weight)


def layer_norm_backward(dout, cache):
    xn, rstd, weight = cache
    lead = tuple(range(dout.ndim - 1))
    dweight = (dout * xn).sum(axis=lead)
    dbias = dout.sum(axis=lead)
    g = dout * weight
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xn * (g * xn).mean(axis=-1, keepdims=True))
    return dx, dweight, dbias
