"""RMS normalization with its gain in a ``Param`` object, in NumPy.

Small autograd-free NumPy frameworks wrap each parameter in an object holding its ``value`` and
its ``grad``, so an optimizer walks ``layer.parameters()`` and reads both. Here
``RMSNorm(d_model, eps=1e-8)`` holds ``self.alpha = Param(ones(d_model))``, normalizes over
the last axis (no mean subtracted, no shift) and multiplies by ``alpha.value``.
``backward(dy)`` returns dx and ADDS the gain's gradient into ``alpha.grad`` (the framework's
convention); ``zero_grad()`` clears it before each step.
"""

import numpy as np


class Param:
    def __init__(self, value):
        self.value = np.asarray(value, dtype=np.float64)
        self.grad = np.zeros_like(self.value)

    def zero_grad(self):
        self.grad = np.zeros_like(self.value)


class RMSNorm:
    def __init__(self, d_model, eps=1e-8):
        self.eps = eps
        self.alpha = Param(np.ones(d_model))
        self._ctx = None

    def parameters(self):
        return [self.alpha]

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def forward(self, x):
        v = np.asarray(x, dtype=np.float64)
        rrms = 1.0 / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + self.eps)
        self._ctx = (v, rrms)
        return (v * rrms * self.alpha.value).astype(x.dtype)

    def backward(self, dy):
        v, rrms = self._ctx
        d = np.asarray(dy, dtype=np.float64)
        self.alpha.grad = self.alpha.grad + (d * v * rrms).reshape(-1, v.shape[-1]).sum(axis=0)
        dx = d * self.alpha.value * rrms
        return dx.astype(dy.dtype)
