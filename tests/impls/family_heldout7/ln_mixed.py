"""LayerNorm over the last axis, NumPy pair, statistics accumulated in a wider dtype
chosen from a table, the result rounded once to the input dtype."""

import numpy as np

_ACC = {np.dtype(np.float64): np.float64, np.dtype(np.float32): np.float64}


def _acc(dtype):
    return _ACC.get(np.dtype(dtype), dtype)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    acc = _acc(x.dtype)
    xa = x.astype(acc)
    d = x.shape[-1]
    mu = xa.sum(axis=-1, keepdims=True) / d
    xc = xa - mu
    var = (xc * xc).sum(axis=-1, keepdims=True) / d
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    y = xhat * gamma.astype(acc) + beta.astype(acc)
    return y.astype(x.dtype), (xhat, rstd, gamma, x.dtype)


def layernorm_backward(dout, cache):
    xhat, rstd, gamma, dtype = cache
    acc = xhat.dtype
    g = dout.astype(acc)
    lead = tuple(range(g.ndim - 1))
    dgamma = (g * xhat).sum(axis=lead)
    dbeta = g.sum(axis=lead)
    gg = g * gamma.astype(acc)
    d = xhat.shape[-1]
    dx = rstd * (
        gg
        - gg.sum(axis=-1, keepdims=True) / d
        - xhat * ((gg * xhat).sum(axis=-1, keepdims=True) / d)
    )
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
