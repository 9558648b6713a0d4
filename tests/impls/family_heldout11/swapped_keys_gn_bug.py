"""Group normalization of a from-scratch CNN library, parameters and gradients in dicts, NumPy.

``self.params = {"w": scale (ones), "b": shift (zeros)}`` and ``self.grads`` under the same
keys, so that the library's optimizer runs ``for k in layer.params: layer.params[k] -=
lr * layer.grads[k]``. Input (N, C, *spatial); the channels are split into ``num_groups``
consecutive groups, each normalized per sample over its channels and positions.

``GroupNorm(num_groups, num_channels, eps=1e-5)``; ``forward(x)``; ``backward(dout)`` -> dx.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        self.G = num_groups
        self.C = num_channels
        self.eps = eps
        self.params = {"w": np.ones(num_channels), "b": np.zeros(num_channels)}
        self.grads = {"w": np.zeros(num_channels), "b": np.zeros(num_channels)}
        self.cache = {}

    def _c(self, v, ndim):
        return np.asarray(v, np.float64).reshape((1, self.C) + (1,) * (ndim - 2))

    def forward(self, x):
        X = np.asarray(x, dtype=np.float64)
        N = X.shape[0]
        Xg = X.reshape(N, self.G, -1)
        mu = Xg.mean(axis=-1, keepdims=True)
        var = Xg.var(axis=-1, keepdims=True)
        ivar = 1.0 / np.sqrt(var + self.eps)
        Xn = ((Xg - mu) * ivar).reshape(X.shape)
        self.cache = {"Xn": Xn, "ivar": ivar}
        out = self._c(self.params["w"], X.ndim) * Xn + self._c(self.params["b"], X.ndim)
        return out.astype(x.dtype)

    def backward(self, dout):
        Xn, ivar = self.cache["Xn"], self.cache["ivar"]
        D = np.asarray(dout, dtype=np.float64)
        axes = (0, *tuple(range(2, D.ndim)))
        self.grads["b"] = np.sum(D * Xn, axis=axes).astype(dout.dtype)
        self.grads["w"] = np.sum(D, axis=axes).astype(dout.dtype)
        N = D.shape[0]
        dXn = (D * self._c(self.params["w"], D.ndim)).reshape(N, self.G, -1)
        Xn_g = Xn.reshape(N, self.G, -1)
        dX = ivar * (
            dXn - dXn.mean(-1, keepdims=True) - Xn_g * (dXn * Xn_g).mean(-1, keepdims=True)
        )
        return dX.reshape(D.shape).astype(dout.dtype)
