"""BN function pair with a channel-blocked fast path.  PLANTED BUG only when the channel
count is a multiple of 8.

Style: hand-vectorised NumPy written like a SIMD kernel: when C is a multiple of the lane
width 8 the (M, C) columns are viewed as (M, C/8, 8) blocks and reduced block-wise (a port of
a C kernel's AVX path), otherwise a plain per-channel path runs.  Channels on axis 1, any rank.

The one bug: the blocked path's variance was written with `ddof=1` (the sample variance,
dividing by M - 1), so for C = 8, 16, 64, ... the train-mode normalization uses the
unbiased variance; the generic path is right.  The backward reuses the forward's x_hat and
inverse std, so it inherits the error.

    bncheck verify lanes8.py
"""

import numpy as np

LANES = 8


def _columns(x):
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _uncolumns(cols, shape):
    moved = (shape[0], *shape[2:], shape[1])
    return np.ascontiguousarray(np.moveaxis(cols.reshape(moved), -1, 1))


def lane_forward(x, gamma, beta, eps=1e-5):
    cols = _columns(x)
    M, C = cols.shape
    if C % LANES == 0:
        blocks = cols.reshape(M, C // LANES, LANES)
        mean = blocks.mean(axis=0).reshape(C)
        var = blocks.var(axis=0, ddof=1).reshape(C)  # BUG: sample variance
    else:
        mean = cols.mean(axis=0)
        var = ((cols - mean) ** 2).mean(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (cols - mean) * inv
    y = gamma * xhat + beta
    return _uncolumns(y, x.shape), (xhat, inv, gamma, x.shape)


def lane_backward(dout, cache):
    xhat, inv, gamma, shape = cache
    dy = _columns(dout)
    M = dy.shape[0]
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dxhat = dy * gamma
    dx = inv / M * (M * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return _uncolumns(dx, shape), dgamma, dbeta
