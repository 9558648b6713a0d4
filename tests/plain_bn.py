"""A correct but careless BN (``plain_bn``): the control that the error budgets must let pass.

Shared by tests/check/test_tolerances.py (the budget lets it pass and catches its planted
mistakes), tests/check/test_tolerances_constant_channel.py and tests/check/test_properties.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

OUTPUTS = ("y", "dx", "dgamma", "dbeta")


class Plain(NamedTuple):
    y: np.ndarray
    dx: np.ndarray
    dgamma: np.ndarray
    dbeta: np.ndarray


def recursive_sum(a: np.ndarray) -> np.ndarray:
    """Σ over axis 0 one row at a time, in a's dtype: naive recursive summation."""
    acc = np.zeros(a.shape[1:], a.dtype)
    for row in a:
        acc = acc + row
    return acc


def plain_bn(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    dy: np.ndarray,
    eps: float,
    axis: int,
    *,
    eps_twice: bool = False,
    var_divisor: str = "m",
) -> Plain:
    """A correct but careless BN: two-pass, everything in x's dtype, recursive sums.

    ``eps_twice`` and ``var_divisor="m-1"`` plant the two small mistakes.
    """
    dt = x.dtype.type
    ax = axis % x.ndim
    moved = np.moveaxis(x, ax, -1)
    xc = moved.reshape(-1, moved.shape[-1])
    dyc = np.moveaxis(dy, ax, -1).reshape(xc.shape)
    m, c = xc.shape
    g = np.ones(c, x.dtype) if gamma is None else gamma
    b = np.zeros(c, x.dtype) if beta is None else beta
    mu = recursive_sum(xc) / dt(m)
    d = xc - mu
    var = recursive_sum(d * d) / dt(m - 1 if var_divisor == "m-1" else m)
    s = np.sqrt(var + dt(2 * eps if eps_twice else eps))
    n = d / s
    y = g * n + b
    dbeta = recursive_sum(dyc)
    dgamma = recursive_sum(dyc * n)
    dx = (g / s) * (dyc - dbeta / dt(m) - n * (dgamma / dt(m)))

    def back(a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a.reshape(moved.shape), -1, ax)

    return Plain(back(y), back(dx), dgamma, dbeta)
