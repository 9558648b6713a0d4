"""A from-scratch BN whose backward ``grad(dy)`` returns ``(dx, {"g": dgamma, "b": dbeta})``:
the parameter gradients keyed by the names the layer gives its parameters (``self.g``,
``self.b``), none of them a conventional name; its mode is a plain ``train`` attribute.
``OwnKeysBuggy`` differs in one place: dbeta is the mean of dy over the batch, not the sum."""

from __future__ import annotations

from typing import Any

import numpy as np


class OwnKeysBN:
    def __init__(self, width: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.g = np.ones(width)
        self.b = np.zeros(width)
        self.eps, self.momentum = eps, momentum
        self.mu_run = np.zeros(width)
        self.var_run = np.ones(width)
        self.train = True

    def forward(self, x: Any) -> Any:
        if not self.train:
            return self.g * (x - self.mu_run) / np.sqrt(self.var_run + self.eps) + self.b
        n = x.shape[0]
        mu = x.mean(0)
        var = x.var(0)
        self.mu_run = (1 - self.momentum) * self.mu_run + self.momentum * mu
        self.var_run = (1 - self.momentum) * self.var_run + self.momentum * var * n / max(n - 1, 1)
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.xh = (x - mu) * self.inv
        return self.g * self.xh + self.b

    def _dbeta(self, dy: Any) -> Any:
        return dy.sum(0)

    def grad(self, dy: Any) -> Any:
        n = dy.shape[0]
        dxh = dy * self.g
        dx = self.inv / n * (n * dxh - dxh.sum(0) - self.xh * (dxh * self.xh).sum(0))
        return dx, {"g": (dy * self.xh).sum(0), "b": self._dbeta(dy)}


class OwnKeysBuggy(OwnKeysBN):
    def _dbeta(self, dy: Any) -> Any:
        return dy.mean(0)
