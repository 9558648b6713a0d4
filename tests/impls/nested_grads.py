"""BNs and a LayerNorm whose backward returns dx beside the parameters' gradients kept
together, as a pair or a dict: right ones, and one with a wrong dbeta (a check must still run
and fail)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _stats(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any]:
    mu = x.mean(axis=axes, keepdims=True)
    s = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return mu, s, (x - mu) / s


def _bn_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(i for i in range(x.ndim) if i != 1)


def _per_channel(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def pair_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    _, s, xh = _stats(x, _bn_axes(x), eps)
    return _per_channel(gamma, x) * xh + _per_channel(beta, x), (xh, gamma, s)


def pair_backward(dy: np.ndarray, cache: Any) -> Any:
    xh, gamma, s = cache
    axes = _bn_axes(dy)
    m = dy.size // dy.shape[1]
    dg, db = (dy * xh).sum(axis=axes), dy.sum(axis=axes)
    dx = (
        _per_channel(gamma, dy)
        / s
        * (dy - _per_channel(db, dy) / m - xh * _per_channel(dg, dy) / m)
    )
    return dx, [dg, db]


class _Layer:
    """A BN layer; ``_pack`` says how its backward hands back dgamma and dbeta."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps, self.momentum, self.training = eps, momentum, True

    def train(self) -> None:
        self.training = True

    def eval(self) -> None:
        self.training = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = _bn_axes(x)
        if self.training:
            m = x.size // x.shape[1]
            mu, var = x.mean(axis=axes), x.var(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            unbiased = var * m / max(m - 1, 1)
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mu, var = self.running_mean, self.running_var
        self.s = _per_channel(np.sqrt(var + self.eps), x)
        self.xh = (x - _per_channel(mu, x)) / self.s
        return _per_channel(self.gamma, x) * self.xh + _per_channel(self.beta, x)

    def backward(self, dy: np.ndarray) -> Any:
        axes = _bn_axes(dy)
        m = dy.size // dy.shape[1]
        dg, db = (dy * self.xh).sum(axis=axes), dy.sum(axis=axes)
        dx = (
            _per_channel(self.gamma, dy)
            / self.s
            * (dy - _per_channel(db, dy) / m - self.xh * _per_channel(dg, dy) / m)
        )
        return self._pack(dx, dg, db)

    def _pack(self, dx: Any, dg: Any, db: Any) -> Any:
        raise NotImplementedError


class TupleBN(_Layer):
    def _pack(self, dx: Any, dg: Any, db: Any) -> Any:
        return dx, (dg, db)


class DictBN(_Layer):
    def _pack(self, dx: Any, dg: Any, db: Any) -> Any:
        return dx, {"gamma": dg, "beta": db}


class WrongDbetaBN(_Layer):
    def _pack(self, dx: Any, dg: Any, db: Any) -> Any:
        return dx, (dg, db / (dx.size // dx.shape[1]))  # the mean of dy, not its sum


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: Any) -> Any:
    _, s, xh = _stats(x, (1,), ln_param.get("eps", 1e-5))
    return gamma * xh + beta, (xh, gamma, s)


def layernorm_backward(dout: np.ndarray, cache: Any) -> Any:
    xh, gamma, s = cache
    dxh = dout * gamma
    dx = (dxh - dxh.mean(axis=1, keepdims=True) - xh * (dxh * xh).mean(axis=1, keepdims=True)) / s
    return dx, {"gamma": (dout * xh).sum(axis=0), "beta": dout.sum(axis=0)}
