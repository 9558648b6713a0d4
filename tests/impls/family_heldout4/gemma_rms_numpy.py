"""Gemma-style RMSNorm in NumPy with a hand-written backward: weight is an offset from 1,
the effective scale is (1 + weight)."""

import numpy as np


class GemmaRMSNorm:
    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.zeros(dim)
        self.dweight = None
        self._cache = None

    def _scale(self):
        return 1.0 + self.weight

    def forward(self, x):
        rrms = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps)
        xhat = x * rrms
        self._cache = (xhat, rrms)
        return xhat * self._scale()

    def backward(self, dout):
        xhat, rrms = self._cache
        lead = tuple(range(dout.ndim - 1))
        self.dweight = (dout * xhat).sum(axis=lead)
        scale = self._scale()
        g = dout * (1.0 + scale)
        return rrms * (g - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
