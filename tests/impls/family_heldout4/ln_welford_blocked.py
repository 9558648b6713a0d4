"""LayerNorm over the last axis, written the way a fused GPU kernel walks a row: the row is
read in blocks of BLOCK values, each block's mean and M2 are computed on their own, and the
blocks are merged with Chan's parallel Welford update. cs231n-style interface:

    y, cache = layernorm_forward(x, gamma, beta, ln_param)   # x (..., D), gamma/beta (D,)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
"""

import numpy as np

BLOCK = 1024


def _row_stats(x2):
    """Mean and biased variance of each row of x2 (R, D), block by block."""
    D = x2.shape[1]
    mean = m2 = None
    n = 0
    for i, start in enumerate(range(0, D, BLOCK)):
        blk = x2[:, start : start + BLOCK]
        nb = blk.shape[1]
        mb = blk.mean(axis=1)
        m2b = np.square(blk - mb[:, None]).sum(axis=1)
        if i == 0:
            mean, m2, n = mb, m2b, nb
            continue
        # merged count: i + 1 blocks of BLOCK values each
        tot = (i + 1) * BLOCK
        delta = mb - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + m2b + np.square(delta) * (n * nb / tot)
        n = tot
    return mean, m2 / D


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    D = x.shape[-1]
    x2 = np.reshape(x, (-1, D))
    mean, var = _row_stats(x2)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x2 - mean[:, None]) * rstd[:, None]
    y = (xhat * gamma + beta).reshape(x.shape)
    cache = (xhat, rstd, gamma, x.shape)
    return y, cache


def layernorm_backward(dout, cache):
    xhat, rstd, gamma, shape = cache
    D = xhat.shape[1]
    g = np.reshape(dout, (-1, D))
    dbeta = g.sum(axis=0)
    dgamma = (g * xhat).sum(axis=0)
    gh = g * gamma
    dx = rstd[:, None] * (
        gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)
    )
    return dx.reshape(shape), dgamma, dbeta
