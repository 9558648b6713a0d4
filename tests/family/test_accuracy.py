"""Accuracy of bncheck.family against the mpmath truth (tests/family/truth.py).

The targets are bncheck's BN targets (``bncheck.check.tolerances.TARGET_ULP``: 2 ULP in float16
and float32, 4 in float64, normwise per set for y and dx, over the vector for dgamma and dbeta):
targets, never loosened. The cases include upstream gradients on which the backward cancels
(dy an exact affine function of x, or nearly so) and set means up to 1e4 times the spread.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.family.cases import DTYPES, DY_KINDS, KINDS, TARGET_ULP, Case, measure

SHAPES = {
    "layernorm": [(3, 64), (2, 3, 7), (4, 2)],
    "rmsnorm": [(3, 64), (2, 3, 7), (4, 1)],
    "groupnorm": [(2, 8, 4, 5), (3, 6, 10), (2, 4)],
    "instancenorm": [(2, 3, 16), (2, 2, 3, 3), (1, 3, 2)],
}
GROUPS = {(2, 8, 4, 5): 4, (3, 6, 10): 3, (2, 4): 2}


def _case(kind: str, dtype: str, dy: str, offset: float, shape_i: int, seed: int) -> Case:
    shape = SHAPES[kind][shape_i]
    return Case(kind, dtype, shape, GROUPS.get(shape, 1), offset, 1.0, dy, seed % 3 != 2, seed)


def _representable(case: Case) -> bool:
    """float16 (max 65504) cannot hold an offset of 1e4 with dy ~ 2x, nor dy ~ 1e4."""
    return case.dtype != "float16" or (case.offset < 1e4 and case.dy_kind != "offset")


def _check(case: Case) -> None:
    target = TARGET_ULP[case.dtype]
    for name, ulp in measure(case).items():
        assert ulp <= target, f"{name}: {ulp} ULP > {target} ({case})"


GRID = [
    _case(k, d, dy, off, 0, 1)
    for k, d, dy, off in itertools.product(KINDS, DTYPES, DY_KINDS, (0.0, 1e2, 1e4))
]


@pytest.mark.parametrize("case", [c for c in GRID if _representable(c)], ids=str)
def test_within_target_on_the_grid(case: Case) -> None:
    _check(case)


@given(
    kind=st.sampled_from(KINDS),
    dtype=st.sampled_from(DTYPES),
    dy=st.sampled_from(DY_KINDS),
    offset=st.sampled_from([0.0, 1.0, 1e3, 1e4]),
    shape_i=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_within_target_on_random_combinations(
    kind: str, dtype: str, dy: str, offset: float, shape_i: int, seed: int
) -> None:
    case = _case(kind, dtype, dy, offset, shape_i, seed)
    if _representable(case):
        _check(case)


def test_the_measure_can_fail() -> None:
    """A plain float32 LayerNorm backward on dy affine in x misses the target by far."""
    import numpy as np

    from bncheck.check.metrics import channel_ulps
    from tests.family.cases import build, sets
    from tests.family.truth import exact

    case = Case("layernorm", "float32", (3, 64), 1, 1e2, 1.0, "affine", False, 1)
    a = build(case)
    x, dy = a["x"], a["dy"]
    mu = x.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + np.float32(1e-5))
    xh = (x - mu) * inv
    dx = inv * (dy - dy.mean(1, keepdims=True) - xh * (dy * xh).mean(1, keepdims=True))
    xs, idx, p = sets(case, x)
    truth = exact(xs.astype(float), None, None, idx, dy.astype(float), 1e-5, False, p)
    assert float(np.max(channel_ulps(dx.T, truth.dx.T, "float32", axis=1))) > 100
