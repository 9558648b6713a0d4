"""Layer normalization in the Annotated Transformer's form, in NumPy.

The Annotated Transformer's ``LayerNorm(features, eps=1e-6)`` keeps its scale and shift as
``self.a_2`` (ones) and ``self.b_2`` (zeros), one per feature, and computes
``a_2 * (x - mean) / (std + eps) + b_2`` over the last axis. This NumPy port takes the
population standard deviation (divisor D) and keeps the original's ``std + eps``.
``backward(dy)`` is the exact gradient of that forward; it returns dx and leaves the
parameters' gradients in ``self.grad_a_2`` and ``self.grad_b_2``.
"""

import numpy as np


class LayerNorm:
    def __init__(self, features, eps=1e-6):
        self.a_2 = np.ones(features)
        self.b_2 = np.zeros(features)
        self.eps = eps
        self.grad_a_2 = np.zeros(features)
        self.grad_b_2 = np.zeros(features)
        self._ctx = None

    def forward(self, x):
        x64 = np.asarray(x, dtype=np.float64)
        mean = x64.mean(-1, keepdims=True)
        xc = x64 - mean
        std = np.sqrt((xc * xc).mean(-1, keepdims=True))
        denom = std + self.eps
        self._ctx = (xc, std, denom)
        y = self.a_2 * xc / denom + self.b_2
        return y.astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        xc, std, denom = self._ctx
        dy64 = np.asarray(dy, dtype=np.float64)
        lead = tuple(range(dy64.ndim - 1))
        self.grad_a_2 = (dy64 * xc / denom).sum(axis=lead).astype(dy.dtype)
        self.grad_b_2 = dy64.sum(axis=lead).astype(dy.dtype)
        g = dy64 * self.a_2
        safe_std = np.where(std > 0, std, 1.0)
        dx = (g - g.mean(-1, keepdims=True)) / denom - xc * (g * xc).mean(-1, keepdims=True) / (
            denom * denom * safe_std
        )
        return dx.astype(dy.dtype)
