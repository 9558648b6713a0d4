"""LayerNorm over the last axis as a dataclass; parameters and gradients in dicts."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerNormLayer:
    features: int
    eps: float = 1e-5
    params: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)

    def __post_init__(self):
        self.params = {"g": np.ones(self.features), "b": np.zeros(self.features)}

    def __call__(self, x):
        xf = x.astype(np.float64)
        mu = xf.mean(axis=-1, keepdims=True)
        xc = xf - mu
        sig = np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + self.eps)
        self._xhat, self._sig, self._dt = xc / sig, sig, x.dtype
        return (self._xhat * self.params["g"] + self.params["b"]).astype(x.dtype)

    def backward(self, dy):
        g = dy.astype(np.float64)
        lead = tuple(range(g.ndim - 1))
        self.grads = {"g": (g * self._xhat).sum(axis=lead), "b": g.sum(axis=lead)}
        dxh = g * self.params["g"]
        dx = (
            dxh
            - dxh.mean(axis=-1, keepdims=True)
            - self._xhat * (dxh * self._xhat).mean(axis=-1, keepdims=True)
        ) / self._sig
        return dx.astype(self._dt)
