"""Group normalization in the style of a from-scratch NumPy framework whose layers keep their
parameters in ``self.params``, a dict keyed by position (``"W0"``, ``"W1"``, ...), as its
dense layers keep weight and bias, and the gradients in ``self.grads`` under the same keys.

``GroupNorm(num_groups, num_channels, eps=1e-5)``: ``params["W0"]`` is the per-channel scale
(ones), ``params["W1"]`` the per-channel shift (zeros). Channels are on axis 1 and split into
``num_groups`` consecutive groups; each sample's group is normalized over its channels and
spatial positions. ``forward(X)``, ``backward(dLdY)`` returns dX and fills ``self.grads``.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.params = {"W0": np.ones(num_channels), "W1": np.zeros(num_channels)}
        self.grads = {"W0": np.zeros(num_channels), "W1": np.zeros(num_channels)}
        self._cache = None

    def _per_channel(self, v, ndim):
        return np.asarray(v, np.float64).reshape((1, self.num_channels) + (1,) * (ndim - 2))

    def forward(self, X):
        x = np.asarray(X, dtype=np.float64)
        n = x.shape[0]
        xg = x.reshape(n, self.num_groups, -1)
        mu = xg.mean(axis=2, keepdims=True)
        var = xg.var(axis=2, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = ((xg - mu) * rstd).reshape(x.shape)
        self._cache = (xhat, rstd, x.shape)
        Y = xhat * self._per_channel(self.params["W0"], x.ndim) + self._per_channel(
            self.params["W1"], x.ndim
        )
        return Y.astype(X.dtype)

    def backward(self, dLdY):
        xhat, rstd, shape = self._cache
        d = np.asarray(dLdY, dtype=np.float64)
        red = (0, *range(2, d.ndim))
        self.grads["W0"] = (d * xhat).sum(axis=red).astype(dLdY.dtype)
        self.grads["W1"] = d.sum(axis=red).astype(dLdY.dtype)
        n = shape[0]
        dxhat = (d * self._per_channel(self.params["W0"], d.ndim)).reshape(n, self.num_groups, -1)
        xh = xhat.reshape(n, self.num_groups, -1)
        dX = rstd * (
            dxhat
            - dxhat.mean(axis=2, keepdims=True)
            - xh * (dxhat * xh).mean(axis=2, keepdims=True)
        )
        return dX.reshape(shape).astype(dLdY.dtype)
