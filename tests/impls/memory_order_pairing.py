"""A "zero-copy" BN kernel that flattens x and dy in memory order (``ravel(order="K")``) and
pairs them element by element: right whenever x and dy share a layout, wrong when they do not
(the incoming gradient of a network need not share x's layout). ``paired`` is the planted bug,
``by_index`` the same kernel that flattens both in index order."""

from __future__ import annotations

from typing import Any

import numpy as np


def _channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, *S) as (N·S, C) rows, in the given flattening order (a view where it can)."""
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    rows = _channels_last(x)
    mu = rows.mean(axis=0)
    var = rows.var(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - mu.reshape(shape)) * inv.reshape(shape)
    y = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return y, (xhat, gamma, inv, shape)


def _backward(dy: np.ndarray, cache: Any, order: str) -> Any:
    xhat, gamma, inv, shape = cache
    c = xhat.shape[1]
    # the channel of each element, laid out as xhat is (empty_like keeps its memory order)
    channel = np.empty_like(xhat, dtype=np.intp)
    channel[...] = np.arange(c).reshape(shape)
    # the pairing: dy and xhat flattened the same way, combined element by element
    flat = np.ravel(dy, order=order) * np.ravel(xhat, order=order)
    dgamma = np.bincount(np.ravel(channel, order=order), weights=flat, minlength=c)
    axes = tuple(i for i in range(xhat.ndim) if i != 1)
    m = xhat.size // c
    dbeta = dy.sum(axis=axes)
    dxhat = dy * gamma.reshape(shape)
    dx = (
        inv.reshape(shape)
        / m
        * (m * dxhat - dxhat.sum(axis=axes).reshape(shape) - xhat * (dgamma * gamma).reshape(shape))
    )
    return dx, dgamma, dbeta


def paired_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> Any:
    return _forward(x, gamma, beta, eps)


def paired_backward(dy: np.ndarray, cache: Any) -> Any:
    return _backward(dy, cache, "K")


def by_index_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> Any:
    return _forward(x, gamma, beta, eps)


def by_index_backward(dy: np.ndarray, cache: Any) -> Any:
    return _backward(dy, cache, "C")
