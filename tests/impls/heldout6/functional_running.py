"""Pure functions: running statistics go in as arguments and come back in a namedtuple.

PyTorch convention (momentum 0.1, unbiased running variance).
"""

from collections import namedtuple

import numpy as np

BNResult = namedtuple("BNResult", ["out", "new_mean", "new_var", "ctx"])
BNGrads = namedtuple("BNGrads", ["d_input", "d_scale", "d_shift"])


def _axes_and_shape(x):
    return (0, *range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bnfn_forward(x, scale, shift, mean, var, training, momentum=0.1, eps=1e-5):
    axes, shp = _axes_and_shape(x)
    xd = np.asarray(x, dtype=np.float64)
    if training:
        cnt = xd.size // xd.shape[1]
        bm = xd.mean(axis=axes)
        bv = np.square(xd - bm.reshape(shp)).mean(axis=axes)
        new_mean = (1 - momentum) * mean + momentum * bm
        new_var = (1 - momentum) * var + momentum * bv * cnt / (cnt - 1)
        use_m, use_v = bm, bv
    else:
        new_mean, new_var = mean, var
        use_m, use_v = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    istd = 1.0 / np.sqrt(use_v + eps)
    xh = (xd - use_m.reshape(shp)) * istd.reshape(shp)
    out = (xh * np.reshape(scale, shp) + np.reshape(shift, shp)).astype(x.dtype)
    return BNResult(out, new_mean, new_var, (xh, istd, np.asarray(scale), x.dtype))


def bnfn_backward(dy, ctx):
    xh, istd, scale, dtype = ctx
    axes, shp = _axes_and_shape(dy)
    g = np.asarray(dy, dtype=np.float64)
    cnt = g.size // g.shape[1]
    d_shift = g.sum(axis=axes)
    d_scale = (g * xh).sum(axis=axes)
    k = (scale.astype(np.float64) * istd).reshape(shp) / cnt
    d_input = k * (cnt * g - d_shift.reshape(shp) - xh * d_scale.reshape(shp))
    return BNGrads(d_input.astype(dtype), d_scale.astype(scale.dtype), d_shift.astype(scale.dtype))
