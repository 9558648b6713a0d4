"""Batch normalization as pure functions over immutable (dataclass) state: `apply` returns
(y, new_state, residuals), `vjp` returns (dx, grads).  The running statistics are the
cumulative average over all training batches seen (no momentum).
"""
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Params:
    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class State:
    mean: np.ndarray
    var: np.ndarray
    count: int


def init(num_features):
    return (Params(np.ones(num_features), np.zeros(num_features)),
            State(np.zeros(num_features), np.ones(num_features), count=1))


def _b(v, nd):
    return np.reshape(v, (1, -1) + (1,) * (nd - 2))


def apply(params, state, x, *, is_training, eps=1e-5):
    nd = x.ndim
    if not is_training:
        y = _b(params.gamma, nd) * (x - _b(state.mean, nd)) / np.sqrt(_b(state.var, nd) + eps) + _b(params.beta, nd)
        return y.astype(x.dtype, copy=False), state, None
    axes = (0,) + tuple(range(2, nd))
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes)
    var = x.var(axis=axes)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - _b(mu, nd)) * _b(inv, nd)
    k = state.count
    new = replace(state,
                  mean=state.mean + (mu - state.mean) / (k + 1),
                  var=state.var + (var * m / (m - 1) - state.var) / (k + 1),
                  count=k + 1)
    y = _b(params.gamma, nd) * xhat + _b(params.beta, nd)
    return y.astype(x.dtype, copy=False), new, (xhat, inv, axes)


def vjp(params, residuals, dy):
    xhat, inv, axes = residuals
    nd = dy.ndim
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = _b(params.gamma * inv / m, nd) * (m * dy - _b(dbeta, nd) - xhat * _b(dgamma, nd))
    return dx.astype(dy.dtype, copy=False), Params(dgamma, dbeta)
