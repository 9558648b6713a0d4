"""A BN layer the BN discovery refuses (its backward, ``grad``, gives its parameters'
gradients in a dict keyed by their positions, ``"0"``/``"1"``, which name no parameter) and the
family path reaches: it keeps running statistics (``state``) and a keyword-only train flag,
which must never be called "not applicable"."""

from __future__ import annotations

import numpy as np


class Norm:
    def __init__(self, width, eps=1e-5, decay=0.9):
        self.params = {"g": np.ones(width), "b": np.zeros(width)}
        self.state = {"mu": np.zeros(width), "var": np.ones(width)}
        self.eps, self.decay = eps, decay

    def __call__(self, x, *, train=True):
        if train:
            mu = x.mean(0)
            xc = x - mu
            var = (xc**2).mean(0)
            self.state["mu"] = self.decay * self.state["mu"] + (1 - self.decay) * mu
            self.state["var"] = self.decay * self.state["var"] + (1 - self.decay) * var
        else:
            mu, var = self.state["mu"], self.state["var"]
            xc = x - mu
        inv = 1.0 / np.sqrt(var + self.eps)
        self._saved = (xc * inv, inv)
        return self.params["g"] * xc * inv + self.params["b"]

    def grad(self, dy):
        xh, inv = self._saved
        dy.shape[0]
        gg = dy * self.params["g"]
        dx = inv * (gg - gg.mean(0) - xh * (gg * xh).mean(0))
        return dx, {"0": (dy * xh).sum(0), "1": dy.sum(0)}
