"""Single-process imitation of a synchronized BN (one replica per shard of the batch along N,
cut by numpy.array_split into WORLD = 2 shards; empty shards drop out), the way SyncBN logic is
often prototyped before running it on devices: each replica reports its mean and biased
variance, the "all-gather" combines them, and the backward all-reduces sum(dy) and
sum(dy * xhat) over the replicas. sync_bn_forward/sync_bn_backward.

PLANTED MISTAKE: the replicas' statistics are merged with equal weights (the mean of the shard
means, and the mean of shard variance + squared offset), not weighted by each shard's count.
Right whenever the non-empty shards are of equal size (N even, or N = 1); wrong for an odd
N > 1 (7 rows = 4 + 3): the mean and variance are those of a reweighted batch, so y, and dx
(which uses those statistics), are off.
"""

import numpy as np

WORLD = 2


def _shards(a):
    return [s for s in np.array_split(a, WORLD, axis=0) if s.shape[0] > 0]


def sync_bn_forward(x, gamma, beta, eps=1e-5):
    xd = np.asarray(x, dtype=np.float64)
    axes = (0, *range(2, xd.ndim))
    bshape = (1, -1) + (1,) * (xd.ndim - 2)
    means, variances = [], []
    for s in _shards(xd):
        mu = s.mean(axis=axes)
        dev = s - mu.reshape(bshape)
        means.append(mu)
        variances.append((dev * dev).mean(axis=axes))
    mean = np.mean(means, axis=0)
    var = np.mean([v + (mu - mean) ** 2 for mu, v in zip(means, variances, strict=True)], axis=0)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (xd - mean.reshape(bshape)) * rstd.reshape(bshape)
    g64 = np.asarray(gamma, dtype=np.float64)
    y = xhat * g64.reshape(bshape) + np.asarray(beta, dtype=np.float64).reshape(bshape)
    n = xd.size // xd.shape[1]
    return y.astype(x.dtype), (xhat, rstd, g64, n, axes, bshape)


def sync_bn_backward(dy, cache):
    xhat, rstd, g64, n, axes, bshape = cache
    d = np.asarray(dy, dtype=np.float64)
    sum_dy = sum(p.sum(axis=axes) for p in _shards(d))
    sum_dy_xhat = sum(
        (p * q).sum(axis=axes) for p, q in zip(_shards(d), _shards(xhat), strict=True)
    )
    k = (g64 * rstd).reshape(bshape)
    dx = k * (d - sum_dy.reshape(bshape) / n - xhat * (sum_dy_xhat / n).reshape(bshape))
    return dx.astype(dy.dtype), sum_dy_xhat.astype(dy.dtype), sum_dy.astype(dy.dtype)
