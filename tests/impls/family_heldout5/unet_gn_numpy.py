"""GroupNorm of a NumPy port of a diffusion UNet (NCHW), forward and hand-written backward;
the number of groups is an argument (the UNet uses 32)."""

import numpy as np


def group_norm_forward(x, gamma, beta, num_groups, eps=1e-6):
    n, c = x.shape[:2]
    g = x.reshape(n, num_groups, -1)
    mu = g.mean(axis=2, keepdims=True)
    var = g.var(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = ((g - mu) * rstd).reshape(x.shape)
    bshape = (1, c) + (1,) * (x.ndim - 2)
    out = xhat * gamma.reshape(bshape) + beta.reshape(bshape)
    return out, (xhat, rstd, gamma, num_groups)


def group_norm_backward(dout, cache):
    xhat, rstd, gamma, num_groups = cache
    n, c = dout.shape[:2]
    axes = (0, *range(2, dout.ndim))
    dgamma = (dout * xhat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    bshape = (1, c) + (1,) * (dout.ndim - 2)
    dxhat = (dout * gamma.reshape(bshape)).reshape(n, num_groups, -1)
    xh = xhat.reshape(n, num_groups, -1)
    dx = rstd * (
        dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True)
    )
    return dx.reshape(dout.shape), dgamma, dbeta
