"""Exact rational closed forms of the running statistics: the batch statistics and the EMA.

Shared by tests/bn/test_running.py (the convention table) and tests/bn/test_layer.py (the
layer's running statistics).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def exact_stats(batch: np.ndarray) -> tuple[list[Fraction], list[Fraction]]:
    """Per-column mean and biased variance as exact rationals."""
    cols = [[Fraction(float(v)) for v in batch[:, j]] for j in range(batch.shape[1])]
    means = [sum(c, Fraction(0)) / len(c) for c in cols]
    var = [
        sum(((v - mu) ** 2 for v in c), Fraction(0)) / len(c)
        for c, mu in zip(cols, means, strict=True)
    ]
    return means, var


def ema_closed_form(values: list[Fraction], weight: Fraction, init: Fraction) -> Fraction:
    """R_k = (1 − a)^k R_0 + Σ_j a (1 − a)^(k − j) b_j: the EMA after k steps, exactly."""
    k = len(values)
    total = (1 - weight) ** k * init
    for j, v in enumerate(values, start=1):
        total += weight * (1 - weight) ** (k - j) * v
    return total
