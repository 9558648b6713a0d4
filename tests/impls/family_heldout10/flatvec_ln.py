"""Layer normalization whose parameters are views into one flat vector, in NumPy.

Some small NumPy frameworks keep all of a layer's parameters in one contiguous vector so an
optimizer can update them in one step: here ``self.theta`` holds 2·D values, and
``self.scale = theta[:D]`` (ones) and ``self.shift = theta[D:]`` (zeros) are views into it.
The gradients are laid out the same way: ``self.dtheta``, with views ``self.dscale`` and
``self.dshift``, written in place by ``backward``. ``LayerNorm(normalized_shape, eps=1e-5)``
normalizes over the last axis; ``forward(x)``, ``backward(dy)`` -> dx.
"""

import numpy as np


class LayerNorm:
    def __init__(self, normalized_shape, eps=1e-5):
        d = int(normalized_shape)
        self.d = d
        self.eps = eps
        self.theta = np.concatenate([np.ones(d), np.zeros(d)])
        self.scale = self.theta[:d]
        self.shift = self.theta[d:]
        self.dtheta = np.zeros(2 * d)
        self.dscale = self.dtheta[:d]
        self.dshift = self.dtheta[d:]
        self._cache = None

    def zero_grad(self):
        self.dtheta[:] = 0.0

    def forward(self, x):
        a = np.asarray(x, dtype=np.float64)
        m = a.mean(axis=-1, keepdims=True)
        v = a.var(axis=-1, keepdims=True)
        r = (v + self.eps) ** -0.5
        n = (a - m) * r
        self._cache = (n, r)
        return (n * self.scale + self.shift).astype(x.dtype)

    def backward(self, dy):
        n, r = self._cache
        g = np.asarray(dy, dtype=np.float64)
        flat_g = g.reshape(-1, self.d)
        flat_n = n.reshape(-1, self.d)
        self.dscale[:] = (flat_g * flat_n).sum(axis=0)
        self.dshift[:] = flat_g.sum(axis=0)
        gs = g * self.scale
        dx = r * (gs - gs.mean(-1, keepdims=True) - n * (gs * n).mean(-1, keepdims=True))
        return dx.astype(dy.dtype)
