"""RMSNorm with a learnable per-channel temperature, in NumPy.

Besides the gain ``weight`` (ones) the layer learns a per-channel temperature ``tau`` (ones)
that divides the output, ``y = weight * x / rms(x) / tau``, a sharpening knob some
attention-logit and QK-norm variants add. Both get gradients, kept in ``self.grads =
{"weight": ..., "tau": ...}``.

``RMSNorm(dim, eps=1e-5)`` normalizes the last axis; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class RMSNorm:
    def __init__(self, dim, eps=1e-5):
        self.dim = dim
        self.eps = eps
        self.weight = np.ones(dim)
        self.tau = np.ones(dim)
        self.grads = {"weight": np.zeros(dim), "tau": np.zeros(dim)}
        self._ctx = None

    def forward(self, x):
        h = np.asarray(x, dtype=np.float64)
        rms = np.sqrt(np.mean(h * h, axis=-1, keepdims=True))
        den = rms + self.eps
        xn = h / den
        w = np.asarray(self.weight, np.float64)
        t = np.asarray(self.tau, np.float64)
        self._ctx = (h, xn, rms, den, w, t)
        return (w * xn / t).astype(x.dtype)

    def backward(self, dy):
        h, xn, rms, den, w, t = self._ctx
        g = np.asarray(dy, dtype=np.float64)
        lead = tuple(range(g.ndim - 1))
        self.grads["weight"] = (g * xn / t).sum(axis=lead).astype(dy.dtype)
        self.grads["tau"] = (-g * w * xn / (t * t)).sum(axis=lead).astype(dy.dtype)
        gx = g * w / t
        # y_i = gx-weighted x_i / (rms + eps);  d rms / d x_i = x_i / (D * rms)
        d = h.shape[-1]
        dx = gx / den - h * np.sum(gx * h, axis=-1, keepdims=True) / (den * den * rms * d)
        return dx.astype(dy.dtype)
