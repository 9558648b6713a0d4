"""A layer whose forward and backward take their one array by keyword only:
``forward(self, *, inputs)`` and ``backward(self, *, grad_output)``, switched by a ``training``
attribute, with PyTorch's running statistics. Correct; ``KwBuggy`` drops eps from its
running-statistics eval."""

from __future__ import annotations

from typing import Any

import numpy as np


class KwBN:
    eval_eps = True

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.eps, self.momentum = eps, momentum
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def forward(self, *, inputs: np.ndarray) -> Any:
        x = inputs
        if self.training:
            mu, var = x.mean(axis=0), x.var(axis=0)
            m = x.shape[0]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            unbiased = var * m / max(m - 1, 1)
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
            eps = self.eps
        else:
            mu, var = self.running_mean, self.running_var
            eps = self.eps if self.eval_eps else 0.0
        self.std = np.sqrt(var + eps)
        self.x_hat = (x - mu) / self.std
        return self.gamma * self.x_hat + self.beta

    def backward(self, *, grad_output: np.ndarray) -> Any:
        dy, m = grad_output, grad_output.shape[0]
        self.dgamma = (dy * self.x_hat).sum(axis=0)
        self.dbeta = dy.sum(axis=0)
        g = dy * self.gamma
        return (m * g - g.sum(axis=0) - self.x_hat * (g * self.x_hat).sum(axis=0)) / (m * self.std)


class KwBuggy(KwBN):
    eval_eps = False
