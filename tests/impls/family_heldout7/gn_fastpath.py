"""From-scratch GroupNorm layer in NumPy with a vectorized path when the channels per group
are a multiple of 4 (or 1), and a per-channel-statistics path otherwise."""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        assert num_channels % num_groups == 0
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.gamma = np.ones(num_channels)
        self.beta = np.zeros(num_channels)
        self.dgamma = None
        self.dbeta = None
        self.cache = None

    def forward(self, x):
        n, c = x.shape[:2]
        g = self.num_groups
        cpg = c // g
        xs = x.reshape(n, c, -1)
        if cpg == 1 or cpg % 4 == 0:
            xg = xs.reshape(n, g, -1)
            mean = xg.mean(axis=2)
            var = ((xg - mean[:, :, None]) ** 2).mean(axis=2)
        else:
            ch_mean = xs.mean(axis=2)
            ch_var = xs.var(axis=2)
            mean = ch_mean.reshape(n, g, cpg).mean(axis=2)
            var = ch_var.reshape(n, g, cpg).mean(axis=2)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xg = xs.reshape(n, g, -1)
        xhat = ((xg - mean[:, :, None]) * rstd[:, :, None]).reshape(x.shape)
        bshape = (1, c) + (1,) * (x.ndim - 2)
        self.cache = (xhat, rstd, x.shape)
        return xhat * self.gamma.reshape(bshape) + self.beta.reshape(bshape)

    def backward(self, dout):
        xhat, rstd, shape = self.cache
        n, c = shape[:2]
        g = self.num_groups
        red = (0, *tuple(range(2, dout.ndim)))
        self.dgamma = (dout * xhat).sum(axis=red)
        self.dbeta = dout.sum(axis=red)
        bshape = (1, c) + (1,) * (dout.ndim - 2)
        gx = (dout * self.gamma.reshape(bshape)).reshape(n, g, -1)
        xh = xhat.reshape(n, g, -1)
        dx = rstd[:, :, None] * (
            gx - gx.mean(axis=2, keepdims=True) - xh * (gx * xh).mean(axis=2, keepdims=True)
        )
        return dx.reshape(shape)
