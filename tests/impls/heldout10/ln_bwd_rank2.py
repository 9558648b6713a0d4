"""LayerNorm over the last axis, NumPy layer for (N, D) or (N, T, D)."""

import numpy as np


class LayerNorm:
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.weight = np.ones(dim)
        self.bias = np.zeros(dim)

    def forward(self, x):
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd
        self._cache = (xhat, rstd)
        return (xhat * self.weight + self.bias).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd = self._cache
        red = tuple(range(dy.ndim - 1))
        self.dweight = (dy * xhat).sum(axis=red).astype(self.weight.dtype)
        self.dbias = dy.sum(axis=red).astype(self.bias.dtype)
        D = dy.shape[1]
        g = dy * self.weight
        s1 = g.sum(-1, keepdims=True)
        s2 = (g * xhat).sum(-1, keepdims=True)
        dx = rstd / D * (D * g - s1 - xhat * s2)
        return dx.astype(dy.dtype)
