"""RMSNorm keeping an exponential moving average of its gain for evaluation, in NumPy.

Polyak averaging of the weights, done inside the layer: every training forward first refreshes
``weight_ema = decay * weight_ema + (1 - decay) * weight`` and then uses ``weight``; in eval mode
(``eval()``, ``training = False``) the averaged gain ``weight_ema`` is used instead. The average
is not trained: only ``weight`` gets a gradient, ``dweight``.

``RMSNorm(dim, eps=1e-6, ema_decay=0.999)`` normalizes the last axis by its root mean square;
``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class RMSNorm:
    def __init__(self, dim, eps=1e-6, ema_decay=0.999):
        self.dim = dim
        self.eps = eps
        self.decay = ema_decay
        self.weight = np.ones(dim)
        self.weight_ema = self.weight.copy()
        self.dweight = np.zeros(dim)
        self.training = True
        self._mem = None

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        v = np.asarray(x, dtype=np.float64)
        if self.training:
            self.weight_ema = self.decay * self.weight_ema + (1.0 - self.decay) * np.asarray(
                self.weight, np.float64
            )
            w = np.asarray(self.weight, np.float64)
        else:
            w = self.weight_ema
        inv_rms = 1.0 / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + self.eps)
        xn = v * inv_rms
        self._mem = (xn, inv_rms, w)
        return (xn * w).astype(x.dtype)

    def backward(self, dy):
        xn, inv_rms, w = self._mem
        g = np.asarray(dy, dtype=np.float64)
        self.dweight = (g * xn).reshape(-1, self.dim).sum(axis=0).astype(dy.dtype)
        gw = g * w
        dx = inv_rms * (gw - xn * np.mean(gw * xn, axis=-1, keepdims=True))
        return dx.astype(dy.dtype)
