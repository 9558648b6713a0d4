"""LayerNorm as an object with ``__call__`` and ``vjp``, the functional-framework style.

``__call__(x)`` normalizes over the last axis and keeps the residuals; ``vjp(g)`` returns the
cotangents as a dict keyed by the primal names, ``{"x": dx, "weight": dw, "bias": db}``, as a
hand-rolled autodiff layer would. Parameters live in a ``params`` dict. Arithmetic in float64,
results in the input dtype.

Correct.
"""

import numpy as np


class LayerNorm:
    def __init__(self, features, eps=1e-5):
        self.eps = eps
        self.params = {"weight": np.ones(features), "bias": np.zeros(features)}
        self._res = None

    def __call__(self, x):
        xd = np.asarray(x, dtype=np.float64)
        mean = xd.mean(-1, keepdims=True)
        var = ((xd - mean) ** 2).mean(-1, keepdims=True)
        rstd = (var + self.eps) ** -0.5
        xhat = (xd - mean) * rstd
        self._res = (xhat, rstd, x.dtype)
        return (xhat * self.params["weight"] + self.params["bias"]).astype(x.dtype)

    def vjp(self, g):
        xhat, rstd, dtype = self._res
        g = np.asarray(g, dtype=np.float64)
        batch_axes = tuple(range(g.ndim - 1))
        gx = g * self.params["weight"]
        n = g.shape[-1]
        dx = (rstd / n) * (
            n * gx - gx.sum(-1, keepdims=True) - xhat * (gx * xhat).sum(-1, keepdims=True)
        )
        return {
            "x": dx.astype(dtype),
            "weight": (g * xhat).sum(batch_axes).astype(dtype),
            "bias": g.sum(batch_axes).astype(dtype),
        }
