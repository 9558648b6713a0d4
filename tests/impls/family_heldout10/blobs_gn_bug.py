"""Group normalization in the style of a Caffe2 operator, in NumPy: the layer owns an ordered
dict of parameter blobs named after it (``"gn_s"``, the scale, ones; ``"gn_b"``, the bias,
zeros) and another of gradient blobs (``"gn_s_grad"``, ``"gn_b_grad"``), as a net's workspace
would name them.

``GroupNorm(num_groups, num_channels, eps=1e-5, name="gn")``: input (N, C, ...), channels in
``num_groups`` consecutive groups; the data is viewed as (N, G, C/G, S) with S the flattened
spatial positions. ``forward(X)``; ``backward(dY)`` returns dX and fills the gradient blobs.
"""

from collections import OrderedDict

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5, name="gn"):
        self.G = num_groups
        self.C = num_channels
        self.eps = eps
        self.name = name
        self.param_blobs = OrderedDict(
            [(f"{name}_s", np.ones(num_channels)), (f"{name}_b", np.zeros(num_channels))]
        )
        self.grad_blobs = OrderedDict(
            (f"{k}_grad", np.zeros(num_channels)) for k in self.param_blobs
        )
        self._ws = {}

    def _view(self, a):
        n = a.shape[0]
        return a.reshape(n, self.G, self.C // self.G, -1)

    def forward(self, X):
        x = self._view(np.asarray(X, dtype=np.float64))
        # moments of each group
        mu = x.mean(axis=2, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=2, keepdims=True)
        rsig = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu) * rsig
        s = np.asarray(self.param_blobs[f"{self.name}_s"], np.float64).reshape(1, self.G, -1, 1)
        b = np.asarray(self.param_blobs[f"{self.name}_b"], np.float64).reshape(1, self.G, -1, 1)
        self._ws = {"xhat": xhat, "rsig": rsig, "shape": X.shape}
        return (xhat * s + b).reshape(X.shape).astype(X.dtype)

    def backward(self, dY):
        xhat, rsig = self._ws["xhat"], self._ws["rsig"]
        dy = self._view(np.asarray(dY, dtype=np.float64))
        s = np.asarray(self.param_blobs[f"{self.name}_s"], np.float64).reshape(1, self.G, -1, 1)
        self.grad_blobs[f"{self.name}_s_grad"] = (
            (dy * xhat).sum(axis=(0, 3)).reshape(-1).astype(dY.dtype)
        )
        self.grad_blobs[f"{self.name}_b_grad"] = dy.sum(axis=(0, 3)).reshape(-1).astype(dY.dtype)
        g = dy * s
        dx = rsig * (
            g - g.mean(axis=2, keepdims=True) - xhat * (g * xhat).mean(axis=2, keepdims=True)
        )
        return dx.reshape(self._ws["shape"]).astype(dY.dtype)
