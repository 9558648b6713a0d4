"""LayerNorm that keeps contiguous float64 copies of its affine pair for a fast path, NumPy.

``gamma`` (ones) and ``beta`` (zeros) are the layer's parameters, returned by ``parameters()``
with their gradients ``dgamma``, ``dbeta`` from ``gradients()`` for an outside optimizer
(``p -= lr * g`` on each pair). For speed the forward uses ``_g``/``_b``, float64 contiguous
copies prepared once by ``_prepare()`` (in ``__init__`` and ``load_state_dict``).

``LayerNorm(dim, eps=1e-5)`` normalizes the last axis; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class LayerNorm:
    def __init__(self, dim, eps=1e-5):
        self.dim = dim
        self.eps = eps
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.dgamma = np.zeros(dim)
        self.dbeta = np.zeros(dim)
        self._prepare()
        self._c = None

    def _prepare(self):
        self._g = np.ascontiguousarray(self.gamma, dtype=np.float64).copy()
        self._b = np.ascontiguousarray(self.beta, dtype=np.float64).copy()

    def parameters(self):
        return [self.gamma, self.beta]

    def gradients(self):
        return [self.dgamma, self.dbeta]

    def load_state_dict(self, state):
        self.gamma = np.array(state["gamma"], dtype=np.float64)
        self.beta = np.array(state["beta"], dtype=np.float64)
        self._prepare()

    def forward(self, x):
        a = np.asarray(x, dtype=np.float64)
        mean = a.mean(axis=-1, keepdims=True)
        xc = a - mean
        rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + self.eps)
        xhat = xc * rstd
        self._c = (xhat, rstd)
        return (xhat * self._g + self._b).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd = self._c
        g = np.asarray(dy, dtype=np.float64).reshape(-1, self.dim)
        h = xhat.reshape(-1, self.dim)
        self.dgamma = (g * h).sum(axis=0).astype(dy.dtype)
        self.dbeta = g.sum(axis=0).astype(dy.dtype)
        gg = g * self._g
        r = rstd.reshape(-1, 1)
        dx = r * (gg - gg.mean(axis=1, keepdims=True) - h * (gg * h).mean(axis=1, keepdims=True))
        return dx.reshape(dy.shape).astype(dy.dtype)
