"""Channels-last functional BNs (channels on the last axis): ``nhwc`` is right,
``nhwc_dgamma4d`` scales dgamma by 1.01 on 4-D input only (tests/check/test_discovery.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


def nhwc_forward(x: Any, gamma: Any, beta: Any, eps: float) -> tuple[Any, Any]:
    axes = tuple(range(x.ndim - 1))
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    return gamma * xhat + beta, (xhat, inv, gamma, axes)


def nhwc_backward(dy: Any, cache: Any) -> tuple[Any, Any, Any]:
    xhat, inv, gamma, axes = cache
    m = dy.size // dy.shape[-1]
    db, dg = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
    return gamma * inv * (dy - db / m - xhat * dg / m), dg, db


def nhwc_dgamma4d_forward(x: Any, gamma: Any, beta: Any, eps: float) -> tuple[Any, Any]:
    return nhwc_forward(x, gamma, beta, eps)


def nhwc_dgamma4d_backward(dy: Any, cache: Any) -> tuple[Any, Any, Any]:
    dx, dg, db = nhwc_backward(dy, cache)
    return dx, dg * (1.01 if dy.ndim == 4 else 1.0), db
