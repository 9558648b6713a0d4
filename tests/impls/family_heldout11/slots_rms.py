"""Zero-centered RMSNorm in a ``__slots__`` class, its gain a property, in NumPy.

Memory-lean inference code declares ``__slots__`` (no instance ``__dict__``). The gain is
stored zero-centered, as Megatron's ``zero_centered_gamma`` and Gemma do, in ``_w`` (zeros):
the ``weight`` property reads ``1 + _w`` and its setter stores ``value - 1``. The gradient is
kept beside its storage: ``_dw`` (equal to d loss / d weight, since weight = 1 + _w).

``RMSNorm(dim, eps=1e-6)`` normalizes the last axis; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class RMSNorm:
    __slots__ = ("_cache", "_dw", "_w", "dim", "eps")

    def __init__(self, dim, eps=1e-6):
        self.dim = dim
        self.eps = eps
        self._w = np.zeros(dim)
        self._dw = np.zeros(dim)
        self._cache = None

    @property
    def weight(self):
        return 1.0 + np.asarray(self._w, np.float64)

    @weight.setter
    def weight(self, value):
        self._w = np.asarray(value, np.float64) - 1.0

    def forward(self, x):
        t = np.asarray(x, dtype=np.float64)
        r = 1.0 / np.sqrt(np.mean(np.square(t), axis=-1, keepdims=True) + self.eps)
        n = t * r
        self._cache = (n, r)
        return (n * self.weight).astype(x.dtype)

    def backward(self, dy):
        n, r = self._cache
        g = np.asarray(dy, dtype=np.float64)
        self._dw = np.sum(g * n, axis=tuple(range(g.ndim - 1))).astype(dy.dtype)
        gw = g * self.weight
        dx = r * (gw - n * np.mean(gw * n, axis=-1, keepdims=True))
        return dx.astype(dy.dtype)
