"""Single-process imitation of a synchronized BN, as written to test SyncBN logic without
several GPUs: the batch is cut into WORLD "replicas" along N (numpy.array_split, so shards may
be unequal; empty shards drop out), each replica computes its count, mean and sum of squared
deviations, and the "all-gather" merges them by Chan's pairwise formula weighted by count.
The backward all-reduces sum(dy) and sum(dy * xhat) the same way.
forward(x, gamma, beta, eps) -> (y, cache); backward(dy, cache) -> (dx, dgamma, dbeta).

No planted mistake.
"""

import numpy as np

WORLD = 3


def _shards(a):
    return [s for s in np.array_split(a, WORLD, axis=0) if s.shape[0] > 0]


def _local_moments(shard, axes, bshape):
    count = shard.size // shard.shape[1]
    mu = shard.mean(axis=axes)
    dev = shard - mu.reshape(bshape)
    return count, mu, (dev * dev).sum(axis=axes)


def _all_gather_merge(moments):
    n, mean, m2 = 0, 0.0, 0.0
    for count, mu, q in moments:
        total = n + count
        delta = mu - mean
        mean = mean + delta * (count / total)
        m2 = m2 + q + delta * delta * (n * count / total)
        n = total
    return n, mean, m2 / n


def forward(x, gamma, beta, eps=1e-5):
    xd = np.asarray(x, dtype=np.float64)
    axes = (0, *range(2, xd.ndim))
    bshape = (1, -1) + (1,) * (xd.ndim - 2)
    n, mean, var = _all_gather_merge([_local_moments(s, axes, bshape) for s in _shards(xd)])
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mean.reshape(bshape)) * rstd.reshape(bshape)
    g64 = np.asarray(gamma, dtype=np.float64)
    y = xhat * g64.reshape(bshape) + np.asarray(beta, dtype=np.float64).reshape(bshape)
    return y.astype(x.dtype), (xhat, rstd, g64, n, axes, bshape)


def backward(dy, cache):
    xhat, rstd, g64, n, axes, bshape = cache
    d = np.asarray(dy, dtype=np.float64)
    sum_dy = 0.0
    sum_dy_xhat = 0.0
    for d_s, xh_s in zip(_shards(d), _shards(xhat), strict=True):
        sum_dy = sum_dy + d_s.sum(axis=axes)
        sum_dy_xhat = sum_dy_xhat + (d_s * xh_s).sum(axis=axes)
    k = (g64 * rstd).reshape(bshape)
    dx = k * (d - sum_dy.reshape(bshape) / n - xhat * (sum_dy_xhat / n).reshape(bshape))
    return dx.astype(dy.dtype), sum_dy_xhat.astype(dy.dtype), sum_dy.astype(dy.dtype)
