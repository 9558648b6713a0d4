"""NumPy BN layer that takes its running-statistics buffers from a "buffer pool" to avoid
allocating them per layer. PyTorch convention (momentum 0.1 on the batch, unbiased running
variance), eps 1e-5, `training` attribute with train()/eval(), forward(x) -> y,
backward(dy) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the pool is a CLASS attribute keyed by the channel count, and the running
statistics are updated in place, so every instance with the same number of channels shares
one running mean and variance: training one layer moves the statistics of all others of its
width, a fresh layer starts from whatever earlier layers left, and eval of one layer uses the
others' batches. A single instance used alone in a fresh process is right.
"""

import numpy as np


class PooledBN:
    _pool = {}  # noqa: RUF012 (the planted mistake: one pool shared by every instance)

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        if num_features not in PooledBN._pool:
            PooledBN._pool[num_features] = (np.zeros(num_features), np.ones(num_features))
        self.running_mean, self.running_var = PooledBN._pool[num_features]
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        bs = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0, *tuple(range(2, x.ndim)))
        xd = x.astype(np.float64)
        if self.training:
            m = xd.size // xd.shape[1]
            mu = xd.mean(axis=axes)
            xc = xd - mu.reshape(bs)
            var = (xc * xc).mean(axis=axes)
            k = self.momentum
            self.running_mean *= 1 - k
            self.running_mean += k * mu
            self.running_var *= 1 - k
            self.running_var += k * var * (m / (m - 1))
        else:
            m = None
            xc = xd - self.running_mean.reshape(bs)
            var = self.running_var
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd.reshape(bs)
        self._ctx = (xhat, rstd, m)
        return (self.weight.reshape(bs) * xhat + self.bias.reshape(bs)).astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        bs = (1, -1) + (1,) * (dy.ndim - 2)
        axes = (0, *tuple(range(2, dy.ndim)))
        xhat, rstd, m = self._ctx
        g = dy.astype(np.float64)
        dbeta = g.sum(axis=axes)
        dgamma = (g * xhat).sum(axis=axes)
        scale = (self.weight * rstd).reshape(bs)
        if m is None:
            dx = scale * g
        else:
            dx = scale * (g - (dbeta.reshape(bs) + xhat * dgamma.reshape(bs)) / m)
        return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
