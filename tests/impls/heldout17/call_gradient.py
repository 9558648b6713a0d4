"""Layer with `__call__` and `gradient`, switched by a string phase.  CORRECT (Keras
running-statistics convention).

Style: a small autodiff-free framework whose layers are callables with a `gradient(dy)`
method returning a dict keyed by what each gradient is of ({"x": ..., "scale": ...,
"shift": ...}), a `phase` attribute that is "fit" while training and "predict" at
inference, parameters named scale / shift and moving averages named avg_mean / avg_var
updated as Keras does (decay 0.99 on the old value, biased variance, eps 1e-3).
Inputs (N, C) or (N, C, ...).

    bncheck verify call_gradient.py:Standardize --convention keras
"""

import numpy as np


class Standardize:
    def __init__(self, units, decay=0.99, eps=1e-3):
        self.decay = decay
        self.eps = eps
        self.scale = np.ones(units)
        self.shift = np.zeros(units)
        self.avg_mean = np.zeros(units)
        self.avg_var = np.ones(units)
        self.phase = "fit"
        self._tape = None

    def __call__(self, x):
        axes = (0, *range(2, x.ndim))
        view = (1, -1) + (1,) * (x.ndim - 2)
        if self.phase == "predict":
            k = self.scale / np.sqrt(self.avg_var + self.eps)
            return k.reshape(view) * (x - self.avg_mean.reshape(view)) + self.shift.reshape(view)
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        var = np.mean(d * d, axis=axes, keepdims=True)
        self.avg_mean = self.decay * self.avg_mean + (1 - self.decay) * mu.reshape(-1)
        self.avg_var = self.decay * self.avg_var + (1 - self.decay) * var.reshape(-1)
        r = 1.0 / np.sqrt(var + self.eps)
        z = d * r
        self._tape = (z, r, axes, view)
        return self.scale.reshape(view) * z + self.shift.reshape(view)

    def gradient(self, dy):
        z, r, axes, view = self._tape
        dz = dy * self.scale.reshape(view)
        dx = r * (
            dz - dz.mean(axis=axes, keepdims=True) - z * (dz * z).mean(axis=axes, keepdims=True)
        )
        return {"x": dx, "scale": (dy * z).sum(axis=axes), "shift": dy.sum(axis=axes)}
