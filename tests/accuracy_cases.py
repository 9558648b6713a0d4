"""The accuracy cases of bncheck's train-mode BN: the tables, :class:`Case`, :func:`measure`.

Every case is one :class:`Case` row (dtype, x regime, dy kind, m, channels, layout, gamma and
beta kinds, eps, seed), built by :func:`build` and measured by :func:`measure` (normwise ULP of
each output against the mpmath truth). ``SWEEP`` is the regime sweep, ``ADVERSARIAL`` the table
of upstream gradients on which the backward cancels; :func:`unsupported` says why a case cannot
be represented in its dtype. The accuracy targets are judged in tests/bn/test_accuracy_limits.py;
tests/bn/test_fallback_cancellation.py runs the adversarial table on the NumPy fallback.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from bncheck.check.metrics import normwise_ulp
from bncheck.check.regimes import (
    BETA_KINDS,
    DY_KINDS,
    GAMMA_KINDS,
    REGIME_TABLE,
    Regime,
    make_dy,
    make_x,
)
from bncheck.check.tolerances import TARGET_ULP
from bncheck.check.truth import exact_batchnorm

FArray = NDArray[np.floating[Any]]

DTYPES = tuple(TARGET_ULP)  # the targets: bncheck.check.tolerances, never loosen them
OUTPUTS = ("y", "dx", "dgamma", "dbeta")

#: x regimes: REGIME_TABLE plus channel means 1e6 times the spread
X_REGIMES: dict[str, Regime] = {**REGIME_TABLE, "offset_1e6": Regime(1e6, 1.0)}


def _other_axes(x: FArray, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(x.ndim) if i != axis % x.ndim)


def _near_parallel(rel: float) -> Callable[[np.random.Generator, FArray, int], FArray]:
    """dy = 2x + 3 + noise with std rel·std(2x) per channel (in float64, then cast): the
    centred dy is within ~rel of parallel to x_hat."""

    def make(rng: np.random.Generator, x: FArray, axis: int) -> FArray:
        x64 = x.astype(np.float64)
        spread = 2.0 * np.std(x64, axis=_other_axes(x, axis), keepdims=True)
        dy = 2.0 * x64 + 3.0 + rel * spread * rng.standard_normal(x.shape)
        return dy.astype(x.dtype)

    return make


#: upstream gradients on which the backward cancels: dy from x (computed in x's dtype) or
#: with a large common offset
ADVERSARIAL_DY: dict[str, Callable[[np.random.Generator, FArray, int], FArray]] = {
    "x": lambda rng, x, axis: x.copy(),
    "2x+3": lambda rng, x, axis: x * x.dtype.type(2) + x.dtype.type(3),
    "-x": lambda rng, x, axis: -x,
    "2x+3+1e-6": _near_parallel(1e-6),
    "2x+3+1e-12": _near_parallel(1e-12),
    "1e4+noise": lambda rng, x, axis: (1e4 + rng.standard_normal(x.shape)).astype(x.dtype),
}
AFFINE_DY = ("x", "2x+3", "-x", "2x+3+1e-6", "2x+3+1e-12")
ALL_DY = (*DY_KINDS, *ADVERSARIAL_DY)


def _split(m: int) -> tuple[int, int, int]:
    """m = n·h·w, for 4-D layouts."""
    n = 2 if m % 2 == 0 else 1
    rest = m // n
    h = max(d for d in range(1, int(rest**0.5) + 1) if rest % d == 0)
    return n, h, rest // h


def _nchw(m: int, c: int) -> tuple[tuple[int, ...], int]:
    n, h, w = _split(m)
    return (n, c, h, w), 1


def _nhwc(m: int, c: int) -> tuple[tuple[int, ...], int]:
    n, h, w = _split(m)
    return (n, h, w, c), -1


#: name -> (m, C) -> (shape, channel axis)
LAYOUTS: dict[str, Callable[[int, int], tuple[tuple[int, ...], int]]] = {
    "NC:1": lambda m, c: ((m, c), 1),
    "NC:-1": lambda m, c: ((m, c), -1),
    "NCHW:1": _nchw,
    "NHWC:-1": _nhwc,
}
GAMMA_CHOICES: tuple[str | None, ...] = (*GAMMA_KINDS, None)
BETA_CHOICES: tuple[str | None, ...] = (*BETA_KINDS, None)


class Case(NamedTuple):
    """One accuracy case; gamma/beta None means no affine parameter."""

    dtype: str
    regime: str  # key of X_REGIMES
    dy: str  # key of DY_KINDS or ADVERSARIAL_DY
    m: int
    channels: int
    layout: str  # key of LAYOUTS
    gamma: str | None
    beta: str | None
    eps: float = 1e-5
    seed: int = 0

    @property
    def id(self) -> str:
        return (
            f"{self.dtype}-{self.regime}-dy={self.dy}-m{self.m}-C{self.channels}-{self.layout}"
            f"-g={self.gamma}-b={self.beta}-eps={self.eps:g}-s{self.seed}"
        )


def _low_variance(case: Case) -> bool:
    """Whether the regime puts the batch variance at or below ~eps (1/sqrt(var + eps) ~ 1e2)."""
    r = X_REGIMES[case.regime]
    return r.var_over_eps is not None or r.spread**2 <= 10 * case.eps


def unsupported(case: Case) -> str | None:
    """Why the inputs or true outputs of ``case`` do not fit its dtype (None: they do)."""
    if case.dtype != "float16":
        return None
    if case.regime == "offset_1e6":
        return "x ~ ±1e6 overflows float16 (max 65504)"
    if case.dy == "1e4+noise":
        return "1e4 + N(0, 1) rounds to multiples of 8 in float16 and Σ dy overflows for m >= 7"
    if case.regime == "offset_1e4" and case.dy in AFFINE_DY:
        return "dy ~ ±1e4 or ±2e4 per value: dbeta = Σ dy overflows float16 for m >= 4"
    if _low_variance(case) and case.gamma in ("far", "negative"):
        return (
            "|gamma| up to 64 over sqrt(var + eps) ~ 1e-2: |dx| exceeds float16's 65504 "
            "for |dy| of a few tens"
        )
    return None


class Inputs(NamedTuple):
    x: FArray
    gamma: FArray | None
    beta: FArray | None
    dy: FArray
    axis: int


def _capped(v: NDArray[np.float64], dtype: np.dtype[Any]) -> FArray:
    """Clip to ±min(1e3, sqrt(finfo.max)/4) and cast, as bncheck.check.strategies does."""
    cap = float(min(1e3, np.sqrt(float(np.finfo(dtype).max)) / 4))
    return np.clip(v, -cap, cap).astype(dtype)


def build(case: Case) -> Inputs:
    """The arrays of ``case``, deterministic for its seed."""
    dt = np.dtype(case.dtype)
    shape, axis = LAYOUTS[case.layout](case.m, case.channels)
    rng = np.random.default_rng(case.seed)
    x = make_x(rng, shape, axis, X_REGIMES[case.regime], case.eps, dt)
    c = case.channels
    gamma = None if case.gamma is None else _capped(GAMMA_KINDS[case.gamma](rng, c), dt)
    beta = None if case.beta is None else _capped(BETA_KINDS[case.beta](rng, c), dt)
    if case.dy in DY_KINDS:
        dy = make_dy(rng, case.dy, shape, axis, dt)
    else:
        dy = ADVERSARIAL_DY[case.dy](rng, x, axis)
    return Inputs(x, gamma, beta, dy, axis)


class Measurement(NamedTuple):
    """Normwise ULP per output present; ``overflow`` names outputs whose truth does not fit
    the dtype (the case is then meaningless for that dtype, and ``ulps`` is empty)."""

    ulps: dict[str, float]
    overflow: tuple[str, ...]


def measure(case: Case) -> Measurement:
    """bncheck's forward and backward on ``case``, against the mpmath truth."""
    x, gamma, beta, dy, axis = build(case)
    dt = np.dtype(case.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        y, cache = bncheck.batchnorm_forward(x, gamma, beta, eps=case.eps, axis=axis)
        dx, dgamma, dbeta = bncheck.batchnorm_backward(dy, cache)
    t = exact_batchnorm(x, gamma, beta, dy, eps=case.eps, axis=axis)
    pairs = {"y": (y, t.y, axis), "dx": (dx, t.dx, axis)}
    if gamma is not None:
        pairs["dgamma"] = (dgamma, t.dgamma, None)
    if beta is not None:
        pairs["dbeta"] = (dbeta, t.dbeta, None)
    big = float(np.finfo(dt).max)
    overflow = tuple(k for k, (_, r, _) in pairs.items() if np.max(np.abs(r)) > big)
    if overflow:
        return Measurement({}, overflow)
    ulps = {k: normwise_ulp(a, r, dt, axis=ax) for k, (a, r, ax) in pairs.items()}
    return Measurement(ulps, ())


def param(case: Case) -> Any:
    """``case`` as a pytest parameter, skipped with the reason when it is unsupported."""
    reason = unsupported(case)
    marks = [pytest.mark.skip(reason=reason)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


#: m of the regime sweep: C·m <= 4000 with C = min(3, 4000 // m)
SWEEP_M = (2, 3, 7, 16, 64, 255, 1000, 2000)
ADVERSARIAL_M = (2, 3, 4, 5, 8)
ADVERSARIAL_REGIMES = ("standard", "offset_1e2", "large_spread", "offset_1e4", "offset_1e6")


def _table(
    combos: list[tuple[str, str, str, int]], picks: np.random.Generator, channels: int = 3
) -> list[Any]:
    """Cases for (regime, dtype, dy, m); layout, gamma and beta picked by ``picks``."""
    cases = []
    for seed, (regime, dtype, dy, m) in enumerate(combos):
        layout = str(picks.choice(list(LAYOUTS)))
        gamma = GAMMA_CHOICES[picks.integers(len(GAMMA_CHOICES))]
        beta = BETA_CHOICES[picks.integers(len(BETA_CHOICES))]
        c = max(1, min(channels, 4000 // m))
        cases.append(param(Case(dtype, regime, dy, m, c, layout, gamma, beta, 1e-5, seed)))
    return cases


_sweep_rng = np.random.default_rng(61)
SWEEP = _table(
    [
        (regime, dtype, dy, int(_sweep_rng.choice(SWEEP_M)))
        for regime, dtype, dy in itertools.product(X_REGIMES, DTYPES, DY_KINDS)
    ],
    _sweep_rng,
)
ADVERSARIAL = _table(
    list(itertools.product(ADVERSARIAL_REGIMES, DTYPES, ADVERSARIAL_DY, ADVERSARIAL_M)),
    np.random.default_rng(62),
)
