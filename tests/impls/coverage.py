"""Layers whose running statistics are found only by behaviour, and one whose statistics bncheck
cannot reach at all (used by tests/check/test_coverage_verdict.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


class RunningStdBN:
    """Correct; keeps a running standard deviation of the unbiased batch variance (a name and a
    meaning no table lists) and switches with train()/eval()."""

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
        mu, var = self.statistics(x, axes)
        self.inv = 1 / np.sqrt(var + self.eps)
        self.xhat = (x - mu.reshape(shape)) * self.inv.reshape(shape)
        self.axes, self.shape = axes, shape
        return self.gamma.reshape(shape) * self.xhat + self.beta.reshape(shape)

    def statistics(self, x: Any, axes: Any) -> tuple[Any, Any]:
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        if self.training:
            m = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            std = np.sqrt(var * m / (m - 1))
            self.running_std = (1 - self.momentum) * self.running_std + self.momentum * std
            return mu, var
        return self.running_mean, self.running_std**2

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


class RunningStdBatchEval(RunningStdBN):
    """RunningStdBN whose eval wrongly normalises with the batch's own statistics."""

    def statistics(self, x: Any, axes: Any) -> tuple[Any, Any]:
        batch = x.mean(axis=axes), x.var(axis=axes)
        if self.training:
            super().statistics(x, axes)
        return batch


class ClosureStatsBN(RunningStdBN):
    """RunningStdBN with its running statistics out of reach: held in a closure, read and
    written only through functions, so no value of the layer is a running statistic."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps, momentum)
        del self.running_mean, self.running_std
        box = {"mean": np.zeros(num_features), "std": np.ones(num_features)}

        def get() -> Any:
            return box

        self.stats = get

    def statistics(self, x: Any, axes: Any) -> tuple[Any, Any]:
        box = self.stats()
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        if self.training:
            m = x.size // x.shape[1]
            box["mean"] = (1 - self.momentum) * box["mean"] + self.momentum * mu
            std = np.sqrt(var * m / (m - 1))
            box["std"] = (1 - self.momentum) * box["std"] + self.momentum * std
            return mu, var
        return box["mean"], box["std"] ** 2


class FlatOnlyBN(RunningStdBN):
    """RunningStdBN that refuses anything but (N, C) input, on purpose."""

    def forward(self, x: Any) -> Any:
        if x.ndim != 2:
            raise ValueError(f"expected a 2-D (N, C) input, got {x.ndim}-D")
        return super().forward(x)


class BreaksOn4DBN(RunningStdBN):
    """RunningStdBN whose code takes any rank but breaks on 4-D input in its own arithmetic
    (an index past the end of a shape it assumed): 4-D was never checked, so not a pass."""

    def forward(self, x: Any) -> Any:
        if x.ndim == 4:
            sizes = [x.shape[0], x.shape[1]]
            return x * sizes[x.ndim - 1]  # IndexError: the 2-D shape it assumed
        return super().forward(x)
