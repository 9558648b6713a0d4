"""DiT-style adaptive LayerNorm: LayerNorm without its own affine, then modulated by
(1 + scale) and shift (here learned directly, one value per feature)."""

import numpy as np


def adaln_forward(x, scale, shift, eps=1e-6):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = xhat * (1.0 + scale) + shift
    return y, (xhat, rstd, scale)


def adaln_backward(dout, cache):
    xhat, rstd, scale = cache
    lead = tuple(range(dout.ndim - 1))
    dscale = np.sum(dout * xhat, axis=lead)
    dshift = np.sum(dout, axis=lead)
    g = dout * (1.0 + scale)
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - xhat * np.mean(g * xhat, axis=-1, keepdims=True)
    )
    return dx, dscale, dshift
