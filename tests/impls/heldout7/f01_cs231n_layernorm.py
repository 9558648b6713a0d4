"""cs231n-style layer normalization, written the "transpose and reuse batchnorm" way.

Correct: statistics per sample over all features of a (N, D) input; gamma/beta of shape (D,).
"""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    if x.ndim != 2:
        raise ValueError(f"expected 2D input (N, D), got shape {x.shape}")
    eps = ln_param.get("eps", 1e-5)
    # treat every sample as a "channel": work on the transpose so the
    # per-column code from the batchnorm assignment applies unchanged
    xt = x.reshape(x.shape[0], -1).T  # (D, N)
    mu = xt.mean(axis=0)
    xc = xt - mu
    var = (xc**2).mean(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat_t = xc * inv_std
    xhat = xhat_t.T.reshape(x.shape)
    out = gamma * xhat + beta
    cache = (xhat_t, inv_std, gamma, x.shape)
    return out, cache


def layernorm_backward(dout, cache):
    xhat_t, inv_std, gamma, shape = cache
    n = dout.shape[0]
    dgamma = (dout * xhat_t.T.reshape(shape)).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat_t = (dout * gamma).reshape(n, -1).T  # (D, N)
    d = dxhat_t.shape[0]
    dx_t = (inv_std / d) * (
        d * dxhat_t - dxhat_t.sum(axis=0) - xhat_t * (dxhat_t * xhat_t).sum(axis=0)
    )
    return dx_t.T.reshape(shape), dgamma, dbeta
