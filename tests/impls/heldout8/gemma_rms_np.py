"""Gemma-style RMSNorm in plain NumPy: the weight is stored zero-centred and used as (1 + w)."""

import numpy as np


def gemma_rms_forward(x, w, eps=1e-6):
    acc = np.promote_types(x.dtype, np.float32)
    xf = x.astype(acc)
    ms = np.mean(xf * xf, axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(ms + eps)
    xn = xf * r
    scale = 1.0 + w.astype(acc)
    out = (xn * scale).astype(x.dtype)
    return out, (xn, r, scale, x.dtype, w.dtype)


def gemma_rms_backward(dout, cache):
    xn, r, scale, xdt, wdt = cache
    g = dout.astype(xn.dtype)
    dw = np.sum(g * xn, axis=tuple(range(g.ndim - 1)))
    gx = g * scale
    d = xn.shape[-1]
    dx = r * (gx - xn * np.sum(gx * xn, axis=-1, keepdims=True) / d)
    return dx.astype(xdt), dw.astype(wdt)
