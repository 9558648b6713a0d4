"""Batch normalization as a function pair that bounds its temporaries on very large batches:
the statistics are taken over chunks of 32768 samples of the batch axis and merged by the law
of total variance. Any rank 2-5, channels on axis 1, float64 inside, rounded once:

    batch_norm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)
    batch_norm_backward(dout, cache) -> (dx, dgamma, dbeta)

ONE PLANTED BUG: the merge weights every chunk equally (mean of the chunk means, mean of the
chunk variances plus the variance of the chunk means), right only when the chunks are of one
size. A batch of more than 32768 samples that is not a multiple of 32768 (65537 rows: two
full chunks and one of a single row) gets a wrong mean and variance; any batch up to 32768
samples (one chunk) is right.
"""

import numpy as np

CHUNK = 32768


def batch_norm_forward(x, gamma, beta, eps=1e-5):
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    means, variances = [], []
    for start in range(0, n, CHUNK):
        blk = x3[start : start + CHUNK].astype(np.float64)
        mu = blk.mean(axis=(0, 2))
        means.append(mu)
        variances.append(((blk - mu[None, :, None]) ** 2).mean(axis=(0, 2)))
    means = np.array(means)
    mean = means.mean(axis=0)
    var = np.array(variances).mean(axis=0) + means.var(axis=0)
    shape = (1, c) + (1,) * (x.ndim - 2)
    ivar = 1.0 / np.sqrt(var.reshape(shape) + eps)
    xhat = (x.astype(np.float64) - mean.reshape(shape)) * ivar
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    out = g * xhat + np.asarray(beta, dtype=np.float64).reshape(shape)
    return out.astype(x.dtype), (xhat, g * ivar, x.dtype)


def batch_norm_backward(dout, cache):
    xhat, k, dtype = cache
    axes = (0, *range(2, dout.ndim))
    shape = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
    m = dout.size // dout.shape[1]
    d = dout.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * xhat).sum(axis=axes)
    dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
