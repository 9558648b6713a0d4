"""Layers whose running statistics or eval mode bncheck cannot drive (used by
tests/check/test_coverage_verdict.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


class RunningStdBN:
    """Correct in train mode; keeps a running standard deviation (a name bncheck does not know)
    and switches with train()/eval(); its eval wrongly uses the batch statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_std = np.ones(num_features)
        self.eps, self.momentum, self.training = eps, momentum, True

    def train(self) -> None:
        self.training = True

    def eval(self) -> None:
        self.training = False

    def forward(self, x: Any) -> Any:
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        if self.training:
            m = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            std = np.sqrt(var * m / (m - 1))
            self.running_std = (1 - self.momentum) * self.running_std + self.momentum * std
        self.inv = 1 / np.sqrt(var + self.eps)
        self.xhat = (x - mu.reshape(shape)) * self.inv.reshape(shape)
        self.axes, self.shape = axes, shape
        return self.gamma.reshape(shape) * self.xhat + self.beta.reshape(shape)

    def backward(self, dy: Any) -> Any:
        m = dy.size // dy.shape[1]
        self.dbeta = dy.sum(axis=self.axes)
        self.dgamma = (dy * self.xhat).sum(axis=self.axes)
        bracket = (
            dy
            - self.dbeta.reshape(self.shape) / m
            - self.xhat * self.dgamma.reshape(self.shape) / m
        )
        return (self.gamma * self.inv).reshape(self.shape) * bracket
