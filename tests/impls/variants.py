"""More one-mistake BNs, for the catalogue rows the other files do not cover.

Functional pairs ``<name>_forward`` / ``<name>_backward`` and layer factories; each is the
correct compact BN with exactly one change, named after the catalogue id it must be
diagnosed with.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _b(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, *[1] * (x.ndim - 2))


def _forward(
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    *,
    no_eps: bool = False,
    scale: float = 1.0,
    use_gamma: bool = True,
    use_beta: bool = True,
) -> Any:
    ax = _axes(x)
    mu = x.mean(axis=ax, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=ax, keepdims=True)
    inv = 1.0 / np.sqrt(var + (0.0 if no_eps else eps))
    x_hat = (x - mu) * inv
    y = x_hat
    if use_gamma:
        y = _b(gamma, x) * y
    if use_beta:
        y = y + _b(beta, x)
    return scale * y, (x_hat, inv, gamma)


def _backward(
    dy: Any,
    cache: Any,
    *,
    dgamma_scale: float = 1.0,
    dbeta_scale: float = 1.0,
    dgamma_mean: bool = False,
) -> Any:
    x_hat, inv, gamma = cache
    ax = _axes(dy)
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, dy) * inv * (dy - _b(dbeta, dy) / m - x_hat * _b(dgamma, dy) / m)
    if dgamma_mean:
        dgamma = dgamma / m
    return dx, dgamma_scale * dgamma, dbeta_scale * dbeta


_CALLS = [0]


def perturbed_per_call_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    """Right to a part in 1e14, but every other call perturbs y by that much (as unseeded
    noise "to break ties", or a race between threads, would): two calls on the same input
    differ, and no state is kept that a second call on one instance would show."""
    y, cache = _forward(x, g, b, eps)
    _CALLS[0] += 1
    return y * (1.0 + 1e-14 * (_CALLS[0] % 2)), cache


def perturbed_per_call_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache)


_WORKSPACE: dict[tuple[Any, ...], Any] = {}


def workspace_cache_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    """Right, but x_hat lives in a buffer kept per (shape, dtype) "to save allocations", and
    the cache holds that buffer: the next forward of the same shape overwrites it."""
    y, (x_hat, inv, gamma) = _forward(x, g, b, eps)
    buffer = _WORKSPACE.setdefault((x.shape, x.dtype.str), np.empty_like(x_hat))
    buffer[...] = x_hat
    return y, (buffer, inv, gamma)


def workspace_cache_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache)


def dgamma_sign_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps)


def dgamma_sign_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache, dgamma_scale=-1.0)


dbeta_sign_forward = dgamma_sign_forward
dgamma_mean_forward = dgamma_sign_forward


def dbeta_sign_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache, dbeta_scale=-1.0)


def dgamma_mean_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache, dgamma_mean=True)


def eps_missing_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps, no_eps=True)


eps_missing_backward = _backward


def missing_gamma_in_forward_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps, use_gamma=False)


def missing_beta_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps, use_beta=False)


def y_sign_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps, scale=-1.0)


missing_gamma_in_forward_backward = missing_beta_backward = y_sign_backward = _backward


def one_pass_variance_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    """The variance as E[x²] − E[x]² (clipped at 0, as Flax's fast variance does)."""
    ax = _axes(x)
    mu = x.mean(axis=ax, keepdims=True)
    var = np.maximum(0.0, (x * x).mean(axis=ax, keepdims=True) - mu * mu)
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv
    return _b(g, x) * x_hat + _b(b, x), (x_hat, inv, g)


one_pass_variance_backward = _backward


class EvalLayer:
    """A correct torch-convention layer whose eval mode divides by ``eval_denominator``."""

    def __init__(self, num_features: int, eval_denominator: str = "right") -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum, self.eps = 0.1, 1e-5
        self.how = eval_denominator
        self.cache: Any = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        ax = _axes(x)
        if train:
            y, self.cache = _forward(x, self.gamma, self.beta, self.eps)
            m = x.size // x.shape[1]
            var = x.var(axis=ax) * m / (m - 1)
            self.running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=ax)
            self.running_var = 0.9 * self.running_var + 0.1 * var
            return np.asarray(y)
        rv, eps = _b(self.running_var, x), self.eps
        den = {"right": np.sqrt(rv + eps), "twice": np.sqrt(rv + 2 * eps), "missing": np.sqrt(rv)}[
            self.how
        ]
        x_hat = (x - _b(self.running_mean, x)) / den
        return np.asarray(_b(self.gamma, x) * x_hat + _b(self.beta, x))

    def backward(self, dy: np.ndarray) -> Any:
        return _backward(dy, self.cache)


def eval_eps_twice(c: int) -> EvalLayer:
    return EvalLayer(c, "twice")


def eval_eps_missing(c: int) -> EvalLayer:
    return EvalLayer(c, "missing")


class AccumulatingLayer(EvalLayer):
    """Right on its first backward; dgamma and dbeta accumulate across backward calls (a
    gradient buffer that is never reset)."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.dgamma_sum = np.zeros(num_features)
        self.dbeta_sum = np.zeros(num_features)

    def backward(self, dy: np.ndarray) -> Any:
        dx, dgamma, dbeta = _backward(dy, self.cache)
        self.dgamma_sum = self.dgamma_sum + dgamma
        self.dbeta_sum = self.dbeta_sum + dbeta
        return dx, self.dgamma_sum, self.dbeta_sum


class FrozenRunningLayer(EvalLayer):
    """Right in training and in eval, but the running statistics' update goes to local
    names and is never stored: they stay at 0 and 1."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if train:
            ax = _axes(x)
            m = x.size // x.shape[1]
            running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=ax)
            running_var = 0.9 * self.running_var + 0.1 * x.var(axis=ax) * m / (m - 1)
            del running_mean, running_var  # meant for self.running_mean, self.running_var
            y, self.cache = _forward(x, self.gamma, self.beta, self.eps)
            return np.asarray(y)
        return super().forward(x, train)


def frozen_running(c: int) -> FrozenRunningLayer:
    return FrozenRunningLayer(c)


def accumulates_gradients(c: int) -> AccumulatingLayer:
    return AccumulatingLayer(c)


class DebiasedLayer(EvalLayer):
    """Haiku's design: hidden averages hidden = d·hidden + (1 − d)·batch (biased variance),
    reported (and used by eval) as hidden/(1 − d^t). Right when the hidden values start at 0;
    ``var_start=1`` is Equinox's mode="batch": the hidden variance starts at 1 and the debiasing
    still divides as if it started at 0 (debias-nonzero-start)."""

    def __init__(self, num_features: int, var_start: float = 0.0) -> None:
        super().__init__(num_features)
        self.momentum = 0.99  # the weight of the old value, as Haiku's decay_rate
        self.hidden_mean = np.zeros(num_features)
        self.hidden_var = np.full(num_features, var_start)
        self.count = 0
        self.running_var = self.hidden_var.copy() if var_start else np.ones(num_features)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            return super().forward(x, False)
        ax, d = _axes(x), self.momentum
        y, self.cache = _forward(x, self.gamma, self.beta, self.eps)
        self.hidden_mean = d * self.hidden_mean + (1 - d) * x.mean(axis=ax)
        self.hidden_var = d * self.hidden_var + (1 - d) * x.var(axis=ax)
        self.count += 1
        self.running_mean = self.hidden_mean / (1 - d**self.count)
        self.running_var = self.hidden_var / (1 - d**self.count)
        return np.asarray(y)


def zero_debiased(c: int) -> DebiasedLayer:
    return DebiasedLayer(c)


def debias_from_one(c: int) -> DebiasedLayer:
    return DebiasedLayer(c, var_start=1.0)


_OUT: dict[tuple[Any, ...], Any] = {}


def workspace_output_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    """Right, but y is written into a buffer kept per (shape, dtype) "to save allocations" and
    that buffer is returned: the next forward of the same shape overwrites the y its caller
    holds (a second layer of the same shape, a skip connection)."""
    y, cache = _forward(x, g, b, eps)
    out = _OUT.setdefault(("y", x.shape, x.dtype.str), np.empty_like(y))
    out[...] = y
    return out, cache


workspace_output_backward = _backward


def workspace_dx_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    return _forward(x, g, b, eps)


def workspace_dx_backward(dy: Any, cache: Any) -> Any:
    """Right, but dx lives in a buffer kept per (shape, dtype), returned to every caller."""
    dx, dgamma, dbeta = _backward(dy, cache)
    out = _OUT.setdefault(("dx", dy.shape, dy.dtype.str), np.empty_like(dx))
    out[...] = dx
    return out, dgamma, dbeta


def output_in_cache_forward(x: Any, g: Any, b: Any, eps: float) -> Any:
    """Correct: y is returned and also kept in the cache (the same array); nothing writes to
    it later, so a caller's y never changes."""
    y, (x_hat, inv, gamma) = _forward(x, g, b, eps)
    return y, (x_hat, inv, gamma, y)


def output_in_cache_backward(dy: Any, cache: Any) -> Any:
    return _backward(dy, cache[:3])


class OutputBufferLayer:
    """A layer (train mode only matters here) whose forward returns the same y array on every
    call of one shape, refilled in place."""

    def __init__(self, num_features: int) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.eps = 1e-5
        self.out: Any = None
        self.cache: Any = None

    def forward(self, x: Any, train: bool = True) -> Any:
        y, self.cache = _forward(x, self.gamma, self.beta, self.eps)
        if self.out is None or self.out.shape != y.shape or self.out.dtype != y.dtype:
            self.out = np.empty_like(y)
        self.out[...] = y
        return self.out

    def backward(self, dy: Any) -> Any:
        return _backward(dy, self.cache)


def output_buffer_layer(c: int) -> OutputBufferLayer:
    return OutputBufferLayer(c)


class FoldedOnceLayer(EvalLayer):
    """Right in training and at its first eval; eval's scale and shift are folded from gamma,
    beta and the running statistics at that first eval and kept, whatever changes after."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.folded: Any = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if train:
            return super().forward(x, train)
        if self.folded is None:
            scale = self.gamma / np.sqrt(self.running_var + self.eps)
            self.folded = (scale, self.beta - self.running_mean * scale)
        scale, shift = self.folded
        return np.asarray(x * _b(scale, x) + _b(shift, x))


def eval_folded_once(c: int) -> FoldedOnceLayer:
    return FoldedOnceLayer(c)


#: running statistics kept per width in one module-level pool, updated in place: every layer of
#: a width shares them (the planted mistake of :func:`pooled_running`)
_POOL: dict[int, tuple[np.ndarray, np.ndarray]] = {}


class PooledRunningLayer(EvalLayer):
    """Right on one instance; its running statistics are the pool's arrays for its width, so a
    new layer starts from what an earlier one left."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        if num_features not in _POOL:
            _POOL[num_features] = (np.zeros(num_features), np.ones(num_features))
        self.running_mean, self.running_var = _POOL[num_features]

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            return super().forward(x, train)
        ax = _axes(x)
        m = x.size // x.shape[1]
        self.running_mean *= 0.9
        self.running_mean += 0.1 * x.mean(axis=ax)
        self.running_var *= 0.9
        self.running_var += 0.1 * x.var(axis=ax) * m / (m - 1)
        y, self.cache = _forward(x, self.gamma, self.beta, self.eps)
        return np.asarray(y)


def pooled_running(c: int) -> PooledRunningLayer:
    return PooledRunningLayer(c)
