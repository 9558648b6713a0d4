"""ConvNeXt-style ``channels_first`` LayerNorm: normalizes axis 1 of (N, C, *spatial) input,
with a per-channel weight and bias, as a NumPy layer with a hand-written backward.

``forward(x)`` returns y; ``backward(dy)`` returns dx and leaves ``dweight`` and ``dbias`` on
the layer. Arithmetic in float64.

PLANTED BUG (one): the backward drops the path through the mean, dx = rstd * (g - x_hat *
mean(g * x_hat)) with no ``- mean(g)`` term (g = dy * weight).
"""

import numpy as np


class LayerNormChannelsFirst:
    def __init__(self, num_channels, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(num_channels)
        self.bias = np.zeros(num_channels)

    def _bc(self, p, ndim):
        return p.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        xd = x.astype(np.float64)
        u = xd.mean(1, keepdims=True)
        s = ((xd - u) ** 2).mean(1, keepdims=True)
        self.rstd = 1.0 / np.sqrt(s + self.eps)
        self.xhat = (xd - u) * self.rstd
        self.dtype = x.dtype
        y = self._bc(self.weight, x.ndim) * self.xhat + self._bc(self.bias, x.ndim)
        return y.astype(x.dtype)

    def backward(self, dy):
        d = dy.astype(np.float64)
        red = (0, *range(2, d.ndim))
        self.dweight = (d * self.xhat).sum(axis=red)
        self.dbias = d.sum(axis=red)
        g = d * self._bc(self.weight, d.ndim)
        dx = self.rstd * (g - self.xhat * (g * self.xhat).mean(1, keepdims=True))
        return dx.astype(self.dtype)
