"""GroupNorm as a NumPy layer class whose channel grouping is interleaved.

``forward(x)`` views (N, C, *spatial) as (N, C // G, G, -1) and reduces over axes (1, 3),
so the group axis is the one of size G: channel c lands in group c % G instead of group
c // (C // G). ``backward(dy)`` is the exact gradient of that forward (the same view), with
``dgamma`` and ``dbeta`` left on the layer. Arithmetic in float64.

PLANTED BUG (one): the group reshape mixes channels across groups on NCHW input.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        self.num_groups = num_groups
        self.eps = eps
        self.gamma = np.ones(num_channels)
        self.beta = np.zeros(num_channels)

    def _view(self, t):
        n, c = t.shape[:2]
        return t.reshape(n, c // self.num_groups, self.num_groups, -1)

    def _param(self, p, ndim):
        return p.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        xv = self._view(x.astype(np.float64))
        mean = xv.mean(axis=(1, 3), keepdims=True)
        var = ((xv - mean) ** 2).mean(axis=(1, 3), keepdims=True)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = ((xv - mean) * self.rstd).reshape(x.shape)
        self.dtype = x.dtype
        out = self._param(self.gamma, x.ndim) * self.xhat + self._param(self.beta, x.ndim)
        return out.astype(x.dtype)

    def backward(self, dy):
        d = dy.astype(np.float64)
        red = (0, *range(2, d.ndim))
        self.dgamma = (d * self.xhat).sum(axis=red)
        self.dbeta = d.sum(axis=red)
        gv = self._view(d * self._param(self.gamma, d.ndim))
        xv = self._view(self.xhat)
        dx = self.rstd * (
            gv
            - gv.mean(axis=(1, 3), keepdims=True)
            - xv * (gv * xv).mean(axis=(1, 3), keepdims=True)
        )
        return dx.reshape(dy.shape).astype(self.dtype)
