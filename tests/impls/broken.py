"""Functional BNs that misbehave: raise, hang, exit, flood, return junk."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

# loaded as a file target: bncheck puts this directory on sys.path
from functional import compact_backward, compact_forward  # type: ignore[import-not-found]


def raises_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    raise RuntimeError("boom in forward")


raises_backward = compact_backward


def hangs_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    time.sleep(3600)


hangs_backward = compact_backward
nan_backward = compact_backward
exits_backward = compact_backward
sysexit_backward = compact_backward
floods_backward = compact_backward
shape_backward = compact_backward


def nan_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    y, cache = compact_forward(x, gamma, beta, eps)
    y[0, 0] = np.nan
    return y, cache


def none_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return compact_forward(x, gamma, beta, eps)


def none_backward(dy: np.ndarray, cache: Any) -> Any:
    return None


def shape_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    y, cache = compact_forward(x, gamma, beta, eps)
    return y[:-1], cache


def exits_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    os._exit(3)


def sysexit_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    sys.exit(4)


def floods_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    line = "x" * 1000 + "\n"
    for _ in range(3000):
        sys.stdout.write(line)
    return compact_forward(x, gamma, beta, eps)
