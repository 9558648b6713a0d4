"""Channels-last instance normalization with immutable parameter records, in NumPy.

Written in the functional style of JAX/Optax code: the parameters are a ``NamedTuple``
``InstanceNormParams(scale, offset)`` of read-only arrays, never changed in place; an update
builds a new record (``apply_update`` -> ``self.params = self.params._replace(...)``), and the
gradients of the last backward are a record of the same type, ``self.grads``. Input is channels
last, (N, L, C) or (N, H, W, C): statistics per sample and channel over the positions.

``InstanceNorm(num_channels, eps=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

from typing import NamedTuple

import numpy as np


class InstanceNormParams(NamedTuple):
    scale: np.ndarray
    offset: np.ndarray


def _frozen(a):
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


class InstanceNorm:
    def __init__(self, num_channels, eps=1e-5):
        self.num_channels = num_channels
        self.eps = eps
        self.params = InstanceNormParams(
            _frozen(np.ones(num_channels)), _frozen(np.zeros(num_channels))
        )
        self.grads = None
        self._res = None

    def apply_update(self, lr):
        p, g = self.params, self.grads
        self.params = p._replace(
            scale=_frozen(p.scale - lr * g.scale), offset=_frozen(p.offset - lr * g.offset)
        )

    def forward(self, x):
        if x.ndim < 3:
            raise ValueError("InstanceNorm needs (N, *spatial, C) input")
        v = np.asarray(x, dtype=np.float64)
        pos = tuple(range(1, v.ndim - 1))
        m = v.mean(axis=pos, keepdims=True)
        s2 = v.var(axis=pos, keepdims=True)
        rs = 1.0 / np.sqrt(s2 + self.eps)
        u = (v - m) * rs
        self._res = (u, rs)
        scale, offset = self.params
        return (u * np.asarray(scale, np.float64) + np.asarray(offset, np.float64)).astype(x.dtype)

    def backward(self, dy):
        u, rs = self._res
        g = np.asarray(dy, dtype=np.float64)
        pos = tuple(range(1, g.ndim - 1))
        red = (0, *pos)
        self.grads = InstanceNormParams(
            _frozen((g * u).sum(axis=red).astype(dy.dtype)),
            _frozen(g.sum(axis=red).astype(dy.dtype)),
        )
        gs = g * np.asarray(self.params.scale, np.float64)
        dx = rs * (
            gs - gs.mean(axis=pos, keepdims=True) - u * (gs * u).mean(axis=pos, keepdims=True)
        )
        return dx.astype(dy.dtype)
