"""Fitted constants read as simple expressions of the batch's sizes, or as a sign.

The fits (:mod:`~bncheck.check._verify.diagnosis.fits`) describe a wrong output by a few
constants (dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)); dgamma/Σ dy·x_hat,
dbeta/Σ dy). A backward that forgets to divide by m fits c = m; one that divides by N instead of
N·H·W fits a = b = H·W; a sign error on one term fits −1 there. This module says which simple
expressions of the known sizes a fitted constant equals, and nothing else: the fits turn a
reading into a named mistake only when the model with that exact value reproduces the target's
output (:data:`~bncheck.check.tolerances.MODEL_MATCH`).

The expressions (:meth:`Sizes.expressions`), for an input of N samples, C channels and spatial
size S (H·W in 4-D, L in 3-D, D·H·W in 5-D; none in 2-D, where the m values per channel are the
N samples): 1, m, N, S, C, m − 1, the reciprocals 1/m, 1/N, 1/S, 1/C, 1/(m − 1), and the ratios
m/(m − 1) and (m − 1)/m (the other ratios of two sizes are sizes themselves: m/N = S, m/S = N),
each with either sign. Their values are exact fractions, so expressions that are equal at these
sizes (m = H·W when N = 1; m = C = 16 for a (16, 16) input) fall in one :class:`Reading` with
every name: an ambiguous reading, which the fits report as such and never name. A size that is
1 (one channel, one sample) is left out: a factor of 1 cannot be told from its absence, and −1
is read as a sign.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["Reading", "Sizes", "readings"]

#: the name of the spatial size S per rank of a (N, C, ...) input
_SPATIAL_NAMES = {3: "L", 4: "H·W", 5: "D·H·W"}


@dataclass(frozen=True)
class Sizes:
    """The sizes of a batch: ``m`` values per channel, ``c`` channels, and for Batch
    Normalization's (N, C, ...) layout the batch ``n`` and the spatial size ``s``.

    Examples
    --------
    >>> sizes = Sizes.of_shape((4, 3, 3, 2))
    >>> sizes.m, sizes.n, sizes.s, sizes.spatial_name
    (24, 4, 6, 'H·W')
    >>> Sizes.of_shape((16, 3)).expressions()["m − 1"]
    Fraction(15, 1)
    """

    m: int
    c: int
    n: int | None = None
    s: int | None = None
    spatial_name: str = ""

    @classmethod
    def of_shape(cls, shape: tuple[int, ...]) -> Sizes:
        """The sizes of an input of ``shape`` with its channel axis at 1 (Batch Normalization's
        layout); 2-D has no spatial size (m = N)."""
        if len(shape) < 2 or any(int(d) < 1 for d in shape):
            raise ValueError(f"shape must be (N, C, ...) with every size >= 1; got {shape}")
        n, c = int(shape[0]), int(shape[1])
        if len(shape) == 2:
            return cls(m=n, c=c)
        s = math.prod(int(d) for d in shape[2:])
        name = _SPATIAL_NAMES.get(len(shape), "S")
        return cls(m=n * s, c=c, n=n, s=s, spatial_name=name)

    def _named_sizes(self) -> Iterator[tuple[str, int]]:
        yield "m", self.m
        if self.n is not None and self.s is not None:
            yield "N", self.n
            yield self.spatial_name, self.s
        yield "C", self.c
        yield "m − 1", self.m - 1

    def expressions(self) -> dict[str, Fraction]:
        """Every expression's name and exact value, the simplest first ("1", the sizes, their
        reciprocals, the two ratios), then the same negated ("−1", "−m", ...)."""
        positive: dict[str, Fraction] = {"1": Fraction(1)}
        sizes = [(name, value) for name, value in self._named_sizes() if value > 1]
        for name, value in sizes:
            positive[name] = Fraction(value)
        for name, value in sizes:
            inner = name if len(name) == 1 else f"({name})"
            positive[f"1/{inner}"] = Fraction(1, value)
        if self.m > 2:  # m − 1 = 1 at m = 2: both ratios are sizes then
            positive["m/(m − 1)"] = Fraction(self.m, self.m - 1)
            positive["(m − 1)/m"] = Fraction(self.m - 1, self.m)
        negative = {
            "−" + (f"({name})" if " " in name and "/" not in name else name): -value
            for name, value in positive.items()
        }
        return positive | negative


@dataclass(frozen=True)
class Reading:
    """One value the fitted constant equals, and every expression that has that value at
    these sizes (more than one: ambiguous).

    Examples
    --------
    >>> str(Reading(Fraction(16), ("m",))), str(Reading(Fraction(-1), ("−1",)))
    ('m = 16', '−1')
    >>> r = Reading(Fraction(6), ("m", "H·W"))
    >>> r.ambiguous, str(r)
    (True, 'm = H·W = 6')
    """

    value: Fraction
    names: tuple[str, ...]

    @property
    def ambiguous(self) -> bool:
        return len(self.names) > 1

    def __str__(self) -> str:
        number = _fraction_text(self.value)
        shown = [n for n in self.names if n != number]
        return " = ".join([*shown, number])


def _fraction_text(value: Fraction) -> str:
    text = str(value)
    return "−" + text[1:] if text.startswith("-") else text


def readings(values: Any, sizes: Sizes, tol: float) -> list[Reading]:
    """The readings of a fitted constant: each value of an expression of ``sizes`` that every
    entry of ``values`` (one per channel: a constant must be the same in every channel) equals
    within ``tol`` relative (absolute below 1), nearest first. None for a non-finite or empty
    ``values``; several when ``tol`` does not tell two values apart (1 and m/(m − 1) for large m):
    the fits then let the models decide.

    Examples
    --------
    >>> sizes = Sizes.of_shape((16, 3))
    >>> [str(r) for r in readings([16.01, 15.99, 16.0], sizes, 2e-3)]
    ['m = 16']
    >>> [str(r) for r in readings([16.0, 16.0, 15.0], sizes, 2e-3)]
    []
    >>> [str(r) for r in readings([-1.0], Sizes.of_shape((1, 3, 3, 2)), 2e-3)]
    ['−1']
    >>> [str(r) for r in readings([6.0], Sizes.of_shape((1, 3, 3, 2)), 2e-3)]
    ['m = H·W = 6']
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        return []
    groups: dict[Fraction, list[str]] = {}
    for name, value in sizes.expressions().items():
        groups.setdefault(value, []).append(name)
    found: list[tuple[float, Reading]] = []
    for value, names in groups.items():
        t = float(value)
        distance = float(np.max(np.abs(v - t)))
        if distance <= tol * max(abs(t), 1.0):
            found.append((distance, Reading(value, tuple(names))))
    return [r for _, r in sorted(found, key=lambda item: item[0])]
