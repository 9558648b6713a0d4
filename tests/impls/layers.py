"""Layer factories ``factory(num_features)`` with ``forward(x, train=...)`` and ``backward(dy)``.

One correct layer per running-statistics convention, and one layer per behaviour mistake.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# loaded as a file target: bncheck puts this directory on sys.path
from functional import compact_backward, compact_forward  # type: ignore[import-not-found]


class Layer:
    """A numpy BN layer; ``convention`` and the flags select the running-statistics behaviour."""

    def __init__(
        self,
        num_features: int,
        *,
        convention: str = "torch",
        momentum: float | None = 0.1,
        unbiased: bool = True,
        eval_batch_stats: bool = False,
        update_in_eval: bool = False,
        eps: float = 1e-5,
    ) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum, self.eps = momentum, eps
        self.convention, self.unbiased = convention, unbiased
        self.eval_batch_stats, self.update_in_eval = eval_batch_stats, update_in_eval
        self.t = 0
        self.cache: Any = None

    def _update(self, x: np.ndarray) -> None:
        ax = (0, *range(2, x.ndim))
        m = x.size // x.shape[1]
        mean, var = x.mean(axis=ax), x.var(axis=ax)
        if self.unbiased:
            var = var * m / (m - 1)
        self.t += 1
        if self.momentum is None:
            a = 1.0 / self.t
        elif self.convention == "torch":
            a = self.momentum
        else:
            a = 1.0 - self.momentum
        self.running_mean = (1 - a) * self.running_mean + a * mean
        self.running_var = (1 - a) * self.running_var + a * var

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if train or self.eval_batch_stats:
            y, self.cache = compact_forward(x, self.gamma, self.beta, self.eps)
            if train or self.update_in_eval:
                self._update(x)
            return y
        shape = (1, -1, *[1] * (x.ndim - 2))
        inv = 1.0 / np.sqrt(self.running_var + self.eps)
        x_hat = (x - self.running_mean.reshape(shape)) * inv.reshape(shape)
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)

    def backward(self, dy: np.ndarray) -> Any:
        return compact_backward(dy, self.cache)


def torch_layer(c: int) -> Layer:
    return Layer(c)


def torch_cumulative_layer(c: int) -> Layer:
    return Layer(c, momentum=None)


def keras_layer(c: int) -> Layer:
    return Layer(c, convention="keras", momentum=0.99, unbiased=False, eps=1e-3)


def torch_biased_running_var(c: int) -> Layer:
    return Layer(c, unbiased=False)


def torch_swapped_momentum(c: int) -> Layer:
    return Layer(c, convention="keras")


def eval_uses_batch_stats(c: int) -> Layer:
    return Layer(c, eval_batch_stats=True)


def updates_state_in_eval(c: int) -> Layer:
    return Layer(c, eval_batch_stats=True, update_in_eval=True)
