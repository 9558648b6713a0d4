"""GroupNorm layer in NumPy, one scale and shift per group."""

import numpy as np


class GroupNorm:
    def __init__(self, num_channels, num_groups=2, eps=1e-5):
        if num_channels % num_groups:
            raise ValueError(f"num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.G = num_groups
        self.eps = eps
        self.gamma = np.ones(num_groups)
        self.beta = np.zeros(num_groups)

    def forward(self, x):
        N = x.shape[0]
        xg = x.reshape(N, self.G, -1)
        mu = xg.mean(axis=2, keepdims=True)
        xc = xg - mu
        var = (xc * xc).mean(axis=2, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd
        self._cache = (xhat, rstd, x.shape)
        y = xhat * self.gamma[None, :, None] + self.beta[None, :, None]
        return y.reshape(x.shape).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, shape = self._cache
        dyg = dy.reshape(shape[0], self.G, -1)
        self.dgamma = (dyg * xhat).sum(axis=(0, 2))
        self.dbeta = dyg.sum(axis=(0, 2))
        g = dyg * self.gamma[None, :, None]
        dx = rstd * (g - g.mean(2, keepdims=True) - xhat * (g * xhat).mean(2, keepdims=True))
        return dx.reshape(shape).astype(dy.dtype)
