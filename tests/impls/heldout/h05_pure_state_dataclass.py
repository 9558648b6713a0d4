"""Batch normalization as pure functions over immutable state (the JAX/Haiku habit, in NumPy).

Nothing is mutated: `bn_apply` returns the output, the *new* state and the residuals the
backward needs; `bn_vjp` maps an output cotangent to the input cotangent and to a
parameter-shaped gradient record.  Running statistics follow the PyTorch convention
(momentum 0.1 is the share of the new batch, unbiased variance).
"""
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class BNParams:
    scale: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class BNState:
    mean: np.ndarray
    var: np.ndarray
    steps: int = 0


@dataclass(frozen=True)
class Residuals:
    x_hat: np.ndarray
    inv_std: np.ndarray
    axes: tuple


def bn_init(num_features, dtype=np.float64):
    params = BNParams(scale=np.ones(num_features, dtype), offset=np.zeros(num_features, dtype))
    state = BNState(mean=np.zeros(num_features, dtype), var=np.ones(num_features, dtype))
    return params, state


def _view(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def bn_apply(params, state, x, *, train, momentum=0.1, eps=1e-5):
    """Returns (y, new_state, residuals).  residuals is None when train is False."""
    nd = x.ndim
    if not train:
        inv = 1.0 / np.sqrt(state.var + eps)
        y = (x - _view(state.mean, nd)) * _view(inv * params.scale, nd) + _view(params.offset, nd)
        return y.astype(x.dtype, copy=False), state, None
    axes = (0,) + tuple(range(2, nd))
    count = x.size // x.shape[1]
    mu = x.mean(axis=axes)
    centred = x - _view(mu, nd)
    var = np.mean(centred * centred, axis=axes)
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = centred * _view(inv, nd)
    y = x_hat * _view(params.scale, nd) + _view(params.offset, nd)
    new_state = replace(
        state,
        mean=(1.0 - momentum) * state.mean + momentum * mu,
        var=(1.0 - momentum) * state.var + momentum * var * (count / (count - 1)),
        steps=state.steps + 1,
    )
    return y.astype(x.dtype, copy=False), new_state, Residuals(x_hat, inv, axes)


def bn_vjp(params, res, dy):
    """Returns (dx, BNParams(scale=dscale, offset=doffset))."""
    nd = dy.ndim
    count = dy.size // dy.shape[1]
    d_offset = dy.sum(axis=res.axes)
    d_scale = (dy * res.x_hat).sum(axis=res.axes)
    dx = _view(params.scale * res.inv_std / count, nd) * (
        count * dy - _view(d_offset, nd) - res.x_hat * _view(d_scale, nd))
    return dx.astype(dy.dtype, copy=False), BNParams(scale=d_scale, offset=d_offset)
