"""A batch-norm layer written as a dataclass.  The mode is a `phase` field ("train" or
"inference"); with momentum=None (the default here) the running statistics are the
cumulative average over every batch seen so far (as PyTorch does with momentum=None),
the variance being the unbiased one.  `backward` returns a dict of gradients keyed by the
name of what they are gradients of: {"x": ..., "gamma": ..., "beta": ...}.
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class BatchNorm:
    num_features: int
    eps: float = 1e-5
    momentum: Optional[float] = None
    phase: str = "train"
    gamma: np.ndarray = field(init=False)
    beta: np.ndarray = field(init=False)
    running_mean: np.ndarray = field(init=False)
    running_var: np.ndarray = field(init=False)
    num_batches_tracked: int = field(init=False, default=0)
    _saved: tuple = field(init=False, default=(), repr=False)

    def __post_init__(self):
        c = self.num_features
        self.gamma, self.beta = np.ones(c), np.zeros(c)
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)

    def _axes(self, x):
        return (0,) + tuple(range(2, x.ndim)), (1, self.num_features) + (1,) * (x.ndim - 2)

    def forward(self, x):
        axes, shp = self._axes(x)
        if self.phase == "inference":
            xh = (x - self.running_mean.reshape(shp)) / np.sqrt(self.running_var.reshape(shp) + self.eps)
        elif self.phase == "train":
            n = x.size // self.num_features
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.num_batches_tracked += 1
            w = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = (1 - w) * self.running_mean + w * mu
            self.running_var = (1 - w) * self.running_var + w * var * n / (n - 1)
            istd = 1.0 / np.sqrt(var + self.eps)
            xh = (x - mu.reshape(shp)) * istd.reshape(shp)
            self._saved = (xh, istd, axes, shp, n)
        else:
            raise ValueError(f"unknown phase {self.phase!r}")
        return (xh * self.gamma.reshape(shp) + self.beta.reshape(shp)).astype(x.dtype, copy=False)

    def backward(self, dy):
        xh, istd, axes, shp, n = self._saved
        dbeta = dy.sum(axis=axes)
        dgamma = (dy * xh).sum(axis=axes)
        dx = (self.gamma * istd).reshape(shp) * (
            dy - dbeta.reshape(shp) / n - xh * dgamma.reshape(shp) / n)
        return {"x": dx.astype(dy.dtype, copy=False), "gamma": dgamma, "beta": dbeta}
