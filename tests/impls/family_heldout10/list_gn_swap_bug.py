"""Group normalization, channels last, with its parameters in a list, in NumPy.

Like a Keras layer's ``get_weights()``, the layer keeps ``self.weights = [scale, shift]``
(ones, zeros; one value per channel) and, beside it, ``self.grads``, the gradient of each
weight at the same index, so that an optimizer updates
``for w, g in zip(layer.weights, layer.grads): w -= lr * g``. Input is channels last,
(N, ..., C); the channels are split into ``num_groups`` consecutive groups.
``GroupNorm(num_groups, num_channels, eps=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        self.groups = num_groups
        self.channels = num_channels
        self.eps = eps
        self.weights = [np.ones(num_channels), np.zeros(num_channels)]
        self.grads = [np.zeros(num_channels), np.zeros(num_channels)]
        self.cache = None

    def _grouped(self, a):
        n = a.shape[0]
        return a.reshape(n, -1, self.groups, self.channels // self.groups)

    def forward(self, x):
        a = self._grouped(np.asarray(x, dtype=np.float64))
        mu = a.mean(axis=(1, 3), keepdims=True)
        var = a.var(axis=(1, 3), keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = ((a - mu) * rstd).reshape(x.shape)
        self.cache = (xhat, rstd)
        scale, shift = (np.asarray(w, np.float64) for w in self.weights)
        return (xhat * scale + shift).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd = self.cache
        d = np.asarray(dy, dtype=np.float64)
        c = self.channels
        dscale = (d * xhat).reshape(-1, c).sum(axis=0)
        dshift = d.reshape(-1, c).sum(axis=0)
        self.grads = [dshift.astype(dy.dtype), dscale.astype(dy.dtype)]
        g = self._grouped(d * np.asarray(self.weights[0], np.float64))
        h = self._grouped(xhat)
        dx = rstd * (
            g - g.mean(axis=(1, 3), keepdims=True) - h * (g * h).mean(axis=(1, 3), keepdims=True)
        )
        return dx.reshape(d.shape).astype(dy.dtype)
