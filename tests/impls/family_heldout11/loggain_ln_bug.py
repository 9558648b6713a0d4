"""LayerNorm with a log-parametrized gain (kept positive), in NumPy.

The gain is stored as ``log_gain`` (zeros) and used as ``exp(log_gain)``, as flow models and
some speech front-ends do to keep it positive; ``bias`` is plain. ``backward`` leaves
``self.grad = {"log_gain": gain * sum(dy * x_hat), "bias": sum(dy)}`` (the chain rule through
``exp``) and returns dx.

``LayerNorm(features, eps=1e-5)`` normalizes the last axis; ``forward(x)``; ``backward(dy)``.
"""

import numpy as np


class LayerNorm:
    def __init__(self, features, eps=1e-5):
        self.features = features
        self.eps = eps
        self.log_gain = np.zeros(features)
        self.bias = np.zeros(features)
        self.grad = {}
        self._s = None

    def forward(self, x):
        v = np.asarray(x, dtype=np.float64)
        mu = v.mean(-1, keepdims=True)
        sd = np.sqrt(v.var(-1, keepdims=True) + self.eps)
        xhat = (v - mu) / sd
        gain = np.exp(np.asarray(self.log_gain, np.float64))
        self._s = (xhat, sd, gain)
        return (gain * xhat + self.bias).astype(x.dtype)

    def backward(self, dy):
        xhat, sd, gain = self._s
        g = np.asarray(dy, dtype=np.float64)
        lead = tuple(range(g.ndim - 1))
        self.grad = {
            "log_gain": (gain * (g * xhat).sum(axis=lead)).astype(dy.dtype),
            "bias": g.sum(axis=lead).astype(dy.dtype),
        }
        dxhat = g
        dx = (
            dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)
        ) / sd
        return dx.astype(dy.dtype)
