"""Instance normalization with parameter and gradient dicts, gradients written in place, NumPy.

``self.params = {"scale": ones, "shift": zeros}`` and ``self.grads`` under the same keys;
``backward`` writes the gradients into the existing arrays (``self.grads[k][...] = ...``) so
that an optimizer holding references to them keeps seeing the new values. ``zero_grad()``
zeroes them. Input (N, C, L) or (N, C, H, W): statistics per sample and channel over the
positions; 2-D input is refused.

``InstanceNorm(num_channels, eps=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class InstanceNorm:
    def __init__(self, num_channels, eps=1e-5):
        self.C = num_channels
        self.eps = eps
        zeros = np.zeros(num_channels)
        self.params = {"scale": np.ones(num_channels), "shift": zeros}
        self.grads = {"scale": np.zeros(num_channels), "shift": zeros}
        self._cache = None

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0.0

    def _v(self, p, ndim):
        return np.asarray(p, np.float64).reshape((1, self.C) + (1,) * (ndim - 2))

    def forward(self, x):
        if x.ndim < 3:
            raise ValueError("expected (N, C, L) or (N, C, H, W) input")
        f = np.asarray(x, dtype=np.float64)
        sp = tuple(range(2, f.ndim))
        mu = f.mean(axis=sp, keepdims=True)
        sig = np.sqrt(f.var(axis=sp, keepdims=True) + self.eps)
        xh = (f - mu) / sig
        self._cache = (xh, sig)
        y = self._v(self.params["scale"], f.ndim) * xh + self._v(self.params["shift"], f.ndim)
        return y.astype(x.dtype)

    def backward(self, dy):
        xh, sig = self._cache
        g = np.asarray(dy, dtype=np.float64)
        sp = tuple(range(2, g.ndim))
        red = (0, *sp)
        self.grads["scale"][...] = (g * xh).sum(axis=red)
        self.grads["shift"][...] = g.sum(axis=red)
        gs = g * self._v(self.params["scale"], g.ndim)
        dx = (
            gs - gs.mean(axis=sp, keepdims=True) - xh * (gs * xh).mean(axis=sp, keepdims=True)
        ) / sig
        return dx.astype(dy.dtype)
