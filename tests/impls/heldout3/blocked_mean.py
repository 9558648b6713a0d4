"""A BN that computes the per-channel mean "blockwise for accuracy": the values of a channel
are cut into blocks of 4096 and the block means are averaged. ``forward(x, gamma, beta,
eps)`` / ``backward(dy, cache)``, channels on axis 1.

PLANTED MISTAKE: the block means are averaged with equal weights, so when a channel has more
than 4096 values and their count is not a multiple of 4096, the short last block weighs as
much as a full one and the mean (and with it the variance and y) is wrong. Exact for up to
4096 values per channel. The backward is the textbook formula on the cached x_hat.
"""

import numpy as np

BLOCK = 4096


def _channel_rows(x):
    return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)


def _blocked_mean(rows):
    m = rows.shape[1]
    parts = [rows[:, i : i + BLOCK].mean(axis=1) for i in range(0, m, BLOCK)]
    return np.mean(parts, axis=0)


def forward(x, gamma, beta, eps=1e-5):
    rows = _channel_rows(x)
    mu = _blocked_mean(rows)
    var = _blocked_mean((rows - mu[:, None]) ** 2)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu.reshape(shape)) * inv_std.reshape(shape)
    y = (gamma.reshape(shape) * x_hat + beta.reshape(shape)).astype(x.dtype)
    return y, (x_hat, inv_std, gamma, shape)


def backward(dy, cache):
    x_hat, inv_std, gamma, shape = cache
    axes = (0, *range(2, dy.ndim))
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    dx = (gamma * inv_std / m).reshape(shape) * (
        m * dy - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape)
    )
    return dx.astype(dy.dtype), dgamma, dbeta
