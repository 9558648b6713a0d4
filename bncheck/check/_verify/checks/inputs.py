"""Inputs for the checks: fixed probes (one per regime), a Hypothesis search, a greedy shrinker.

Targets take (N, C) or (N, C, H, W) with the channel axis 1, as functional and cs231n-style
BNs do. Probes guarantee that every regime is tried on every run; the search then draws more
cases from ``bncheck.check.strategies``; a failing probe is shrunk greedily (fewer channels, fewer
rows, smaller spatial sides) while it still fails, so the counterexample shown is small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from bncheck.check.regimes import BETA_KINDS, DY_KINDS, GAMMA_KINDS, REGIME_TABLE, make_dy, make_x
from bncheck.check.strategies import BNCase, bn_cases

__all__ = [
    "SHAPES",
    "probe_cases",
    "search_strategy",
    "shrink",
    "to_channel_axis_1",
    "with_channels",
]

#: probe shapes per ndim: m = 16 values per channel in 2-D, 4·3·2 = 24 in 4-D
SHAPES: dict[int, tuple[int, ...]] = {2: (16, 3), 3: (4, 3, 5), 4: (4, 3, 3, 2), 5: (2, 3, 2, 2, 2)}


def to_channel_axis_1(case: BNCase) -> BNCase:
    """Move a case's channel axis to position 1."""
    ax = case.axis % case.x.ndim
    return case._replace(x=np.moveaxis(case.x, ax, 1), dy=np.moveaxis(case.dy, ax, 1), axis=1)


def probe_cases(dtype: Any, ndim: int, seed: int = 0, channels: int | None = None) -> list[BNCase]:
    """One deterministic case per row of ``bncheck.check.regimes.REGIME_TABLE`` (float16 skips
    the offsets its 11-bit significand cannot hold), built with the strategies' own
    ``make_x``/``make_dy``; gamma of both signs, beta != 0, dy kinds in turn (never uniform).
    ``channels`` overrides the probe shapes' C = 3 (for targets of a fixed width)."""
    dt = np.dtype(dtype)
    shape = list(SHAPES[ndim])
    shape[1] = channels or shape[1]
    c = shape[1]
    dy_kinds = list(DY_KINDS)
    cases = []
    for k, (name, regime) in enumerate(REGIME_TABLE.items()):
        if dt == np.float16 and regime.offset * regime.spread > 1e3:
            continue
        rng = np.random.default_rng([seed, ndim, k])
        eps = 1e-5
        x = make_x(rng, tuple(shape), 1, name, eps, dt)
        gamma = GAMMA_KINDS["moderate"](rng, c) * np.resize([1.0, -1.0], c)
        beta = BETA_KINDS["normal"](rng, c)
        dy = make_dy(rng, dy_kinds[k % len(dy_kinds)], tuple(shape), 1, dt)
        cases.append(BNCase(x, gamma.astype(dt), beta.astype(dt), dy, eps, 1, name))
    return cases


def with_channels(case: BNCase, channels: int) -> BNCase:
    """Repeat (or drop) channels so that the case has exactly ``channels``."""
    pick = np.arange(channels) % case.x.shape[1]
    return _take(case, (slice(None), pick), pick)


def search_strategy(
    dtype: Any, ndim: int, channels: int | None = None
) -> st.SearchStrategy[BNCase]:
    """Random cases of one dtype and ndim, channel axis 1, with gamma and beta."""
    cases = bn_cases(dtypes=(dtype,), min_ndim=ndim, max_ndim=ndim, affine=True)
    cases = cases.map(to_channel_axis_1)
    return cases if channels is None else cases.map(lambda c: with_channels(c, channels))


def _take(case: BNCase, x_index: tuple[Any, ...], channels: Any = slice(None)) -> BNCase:
    g = None if case.gamma is None else case.gamma[channels]
    b = None if case.beta is None else case.beta[channels]
    return case._replace(x=case.x[x_index].copy(), dy=case.dy[x_index].copy(), gamma=g, beta=b)


def _candidates(case: BNCase, fixed_channels: bool = False) -> list[BNCase]:
    """Smaller variants of a case, largest reduction first; every one keeps m >= 2."""
    out = []
    shape = case.x.shape
    c = shape[1]
    for j in range(c) if c > 1 and not fixed_channels else []:
        out.append(_take(case, (slice(None), slice(j, j + 1)), slice(j, j + 1)))
    m = case.x.size // c
    for axis in [0, *range(2, case.x.ndim)]:
        n = shape[axis]
        for keep in sorted({n // 2, n - 1}):
            if keep < 1 or keep >= n or m // n * keep < 2:
                continue
            index = [slice(None)] * case.x.ndim
            index[axis] = slice(0, keep)
            out.append(_take(case, tuple(index)))
    return out


def shrink(
    case: BNCase, fails: Callable[[BNCase], bool], budget: int = 60, fixed_channels: bool = False
) -> BNCase:
    """Greedily replace ``case`` by a smaller variant while ``fails`` stays true."""
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for smaller in _candidates(case, fixed_channels):
            tries += 1
            if fails(smaller):
                case, improved = smaller, True
                break
            if tries >= budget:
                break
    return case
