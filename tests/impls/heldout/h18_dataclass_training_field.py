"""A dataclass batch-norm layer.  `training` is a field; `backward` returns a dict
{"x": dx, "gamma": dgamma, "beta": dbeta}.  PyTorch convention (momentum 0.1, unbiased).
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class BatchNormLayer:
    features: int
    eps: float = 1e-5
    momentum: float = 0.1
    training: bool = True
    gamma: np.ndarray = field(default=None)
    beta: np.ndarray = field(default=None)
    running_mean: np.ndarray = field(default=None)
    running_var: np.ndarray = field(default=None)

    def __post_init__(self):
        f = self.features
        self.gamma = np.ones(f) if self.gamma is None else np.asarray(self.gamma, float)
        self.beta = np.zeros(f) if self.beta is None else np.asarray(self.beta, float)
        self.running_mean = np.zeros(f) if self.running_mean is None else self.running_mean
        self.running_var = np.ones(f) if self.running_var is None else self.running_var

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        shp = (1, self.features) + (1,) * (x.ndim - 2)
        if self.training:
            m = x.size // self.features
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(shp)) * inv.reshape(shp)
        self._mem = (xhat, inv, axes, shp)
        return (xhat * self.gamma.reshape(shp) + self.beta.reshape(shp)).astype(x.dtype, copy=False)

    def backward(self, dy):
        xhat, inv, axes, shp = self._mem
        m = dy.size // self.features
        dbeta = dy.sum(axis=axes)
        dgamma = (dy * xhat).sum(axis=axes)
        # dx = gamma / sigma * (m dy - sum(dy) - xhat sum(dy xhat))
        dx = (self.gamma * inv).reshape(shp) * (
            m * dy - dbeta.reshape(shp) - xhat * dgamma.reshape(shp))
        return {"x": dx.astype(dy.dtype, copy=False), "gamma": dgamma, "beta": dbeta}
