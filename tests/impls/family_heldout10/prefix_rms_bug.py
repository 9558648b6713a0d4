"""RMS normalization whose parameter lives in a model-wide store, keyed by the layer's prefix.

As in NumPy ports of GPT-style models, a model keeps every parameter in one flat dict of named
arrays (``"ln1.scale"``, ``"attn.c_attn.w"``, ...), and each layer holds the store and its own
prefix. ``RMSNorm(dim, eps=1e-6, store=None, prefix="ln1")`` registers ``prefix + ".scale"``
(zeros) and uses it as ``1 + scale`` (Gemma's parametrisation), over the last axis. The
gradients go to ``self.grads`` under the same keys. ``forward(x)``, ``backward(dy)`` -> dx.
"""

import numpy as np


class RMSNorm:
    def __init__(self, dim, eps=1e-6, store=None, prefix="ln1"):
        self.store = {} if store is None else store
        self.prefix = prefix
        self.eps = eps
        self.key = f"{prefix}.scale"
        self.store[self.key] = np.zeros(dim)
        self.grads = {self.key: np.zeros(dim)}
        self._saved = None

    def forward(self, x):
        h = np.asarray(x, dtype=np.float64)
        h = h - h.mean(axis=-1, keepdims=True)
        ms = np.mean(h * h, axis=-1, keepdims=True)
        inv_rms = 1.0 / np.sqrt(ms + self.eps)
        normed = h * inv_rms
        self._saved = (normed, inv_rms)
        w = 1.0 + np.asarray(self.store[self.key], np.float64)
        return (normed * w).astype(x.dtype)

    def backward(self, dy):
        normed, inv_rms = self._saved
        d = np.asarray(dy, dtype=np.float64)
        self.grads[self.key] = (d * normed).reshape(-1, d.shape[-1]).sum(0).astype(dy.dtype)
        g = d * (1.0 + np.asarray(self.store[self.key], np.float64))
        dx = inv_rms * (
            g - g.mean(-1, keepdims=True) - normed * (g * normed).mean(-1, keepdims=True)
        )
        return dx.astype(dy.dtype)
