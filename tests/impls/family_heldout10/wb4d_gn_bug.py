"""Group normalization with (1, C, 1, 1) parameters, in NumPy.

Written for images first, this layer stores its per-channel weight and bias already shaped to
broadcast over (N, C, H, W): ``self.w`` (ones) and ``self.b`` (zeros), both (1, C, 1, 1);
other ranks view them as (1, C) + (1,) * spatial. ``GroupNorm(num_groups, num_channels,
eps=1e-5)``; ``forward(x)``; ``backward(dout)`` returns dx and leaves ``self.dw``,
``self.db`` in the parameters' (1, C, 1, 1) shape, reduced by ``_reduce_to_param``.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        self.G = num_groups
        self.C = num_channels
        self.eps = eps
        self.w = np.ones((1, num_channels, 1, 1))
        self.b = np.zeros((1, num_channels, 1, 1))
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)
        self._cache = None

    def _as(self, p, ndim):
        return np.asarray(p, np.float64).reshape((1, self.C) + (1,) * (ndim - 2))

    @staticmethod
    def _reduce_to_param(t):
        # batch summed, spatial positions folded into one value per channel
        t = t.sum(axis=0, keepdims=True)
        spatial = tuple(range(2, t.ndim))
        if spatial:
            t = t.mean(axis=spatial, keepdims=True)
        return t.reshape(1, -1, 1, 1)

    def forward(self, x):
        xf = np.asarray(x, dtype=np.float64)
        n = xf.shape[0]
        xg = xf.reshape(n, self.G, -1)
        mean = xg.mean(-1, keepdims=True)
        var = xg.var(-1, keepdims=True)
        istd = 1.0 / np.sqrt(var + self.eps)
        xn = ((xg - mean) * istd).reshape(xf.shape)
        self._cache = (xn, istd)
        out = xn * self._as(self.w, xf.ndim) + self._as(self.b, xf.ndim)
        return out.astype(x.dtype)

    def backward(self, dout):
        xn, istd = self._cache
        d = np.asarray(dout, dtype=np.float64)
        self.dw = self._reduce_to_param(d * xn).astype(dout.dtype)
        self.db = self._reduce_to_param(d).astype(dout.dtype)
        n = d.shape[0]
        g = (d * self._as(self.w, d.ndim)).reshape(n, self.G, -1)
        h = xn.reshape(n, self.G, -1)
        dx = istd * (g - g.mean(-1, keepdims=True) - h * (g * h).mean(-1, keepdims=True))
        return dx.reshape(d.shape).astype(dout.dtype)
