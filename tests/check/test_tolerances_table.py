"""bncheck.check.tolerances' table: one row per dtype, consistent with its derivations, and the
budgets built from it (worst case, running statistics) judging with exactly those numbers.

The targets' values are not restated here (the table is their one place); what is tested is
what the derivations require of them and that every user reads them from the table.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from bncheck.check.conditions import worst_case_scales
from bncheck.check.metrics import assert_within_worst_case
from bncheck.check.tolerances import (
    TARGET_ULP,
    TOLERANCES,
    Tolerances,
    for_dtype,
    running_budget,
    unit_roundoff,
    worst_case_k,
)
from tests.internals import running_matches

DTYPES = ("float16", "float32", "float64")


def test_the_table_has_one_row_per_dtype_with_its_unit_roundoff() -> None:
    assert tuple(TOLERANCES) == DTYPES
    for name, row in TOLERANCES.items():
        assert row.dtype == name
        assert row.unit_roundoff == np.finfo(name).eps / 2 == unit_roundoff(name)
    # a float dtype without a row (a layer under verify may store longdouble statistics)
    assert unit_roundoff(np.longdouble) == float(np.finfo(np.longdouble).eps) / 2


def test_the_rows_are_consistent_with_their_derivations() -> None:
    for name, row in TOLERANCES.items():
        # a correctly rounded result is 0.5 normwise ULP off the truth, 1 in float64 where the
        # truth is itself a rounded float64: a target below that could not be met
        assert row.target_ulp >= (1.0 if name == "float64" else 0.5)
        assert TARGET_ULP[name] == row.target_ulp
        # narrow dtypes: computed in float64, rounded once; float64: the worst-case bound
        if name == "float64":
            assert row.rounded_once_ulp is None and row.worst_case is not None
        else:
            assert row.worst_case is None and row.rounded_once_ulp is not None
            assert 0.5 <= row.rounded_once_ulp <= row.target_ulp


def test_rows_are_built_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        Tolerances("float32", 2.0**-24, 2.0, 1.0, None, None, 6.0)  # type: ignore[misc]


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.dtype(np.float32)])
def test_for_dtype_takes_names_types_and_dtypes(dtype: Any) -> None:
    assert for_dtype(dtype) is TOLERANCES["float32"]


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        (np.int32, "dtype=<class 'numpy.int32'> is not a floating dtype; expected one of float16"),
        # not "bfloat16": ml_dtypes (installed with JAX) registers it with NumPy once imported
        ("not_a_dtype", "dtype='not_a_dtype' is not a dtype; expected a floating dtype"),
        pytest.param(
            np.longdouble,
            "has no tolerances; expected one of float16, float32, float64",
            marks=pytest.mark.skipif(
                np.dtype(np.longdouble) == np.float64, reason="longdouble is float64 here"
            ),
        ),
    ],
)
def test_for_dtype_rejects_a_dtype_without_a_row(dtype: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        for_dtype(dtype)


def test_the_worst_case_constant_is_its_derivation() -> None:
    # K = 2·(m + 10): a factor 2 for products of perturbed sums, <= 10 roundings after the sums
    for m in (1, 2, 64, 4096):
        assert worst_case_k(m) == 2.0 * (m + 10)


def test_assert_within_worst_case_allows_exactly_its_bound() -> None:
    rng = np.random.default_rng(5)
    x, dy = rng.normal(size=(16, 3)), rng.normal(size=(16, 3))
    scale = worst_case_scales(x, None, None, dy, 1e-5, axis=1)["dbeta"]
    truth = dy.sum(axis=0)
    bound = worst_case_k(16) * unit_roundoff(np.float64) * scale
    assert_within_worst_case("dbeta", truth + 0.9 * bound, truth, scale, 16, None)
    with pytest.raises(AssertionError, match=r"dbeta: channel 1 error .* exceeds the float64"):
        assert_within_worst_case("dbeta", truth + [0, 1.1, 0] * bound, truth, scale, 16, None)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_running_budget_is_its_derivation(dtype: str) -> None:
    u = np.finfo(dtype).eps / 2
    for t in (1, 5):
        for m in (16, 1000):
            assert running_budget(t, m, dtype) == (8 * t + 4 * m) * u


def test_the_running_budget_rejects_a_non_float_dtype() -> None:
    with pytest.raises(ValueError, match=r"dtype=dtype\('int64'\) is not a floating dtype"):
        running_budget(1, 16, np.dtype(np.int64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_verify_matches_running_statistics_within_exactly_the_running_budget(dtype: Any) -> None:
    # the running check (verify) judges with running_budget·max(|expected|, 1), step by step
    m = 16
    expected = [(np.array([3.0, 0.25]), np.array([4.0, 2.0])) for _ in range(3)]

    def observed(factor: float) -> list[tuple[Any, Any]]:
        out = []
        for t, (em, ev) in enumerate(expected, start=1):
            b = running_budget(t, m, dtype)
            om = em + factor * b * np.maximum(np.abs(em), 1.0)
            out.append((om.astype(dtype), ev.astype(dtype)))
        return out

    exact = [(em.astype(dtype), ev.astype(dtype)) for em, ev in expected]
    assert running_matches(exact, expected, m) == 0.0
    # float16 rounds the offset itself: judge well inside and well outside the budget
    assert running_matches(observed(0.5), expected, m) <= 1.0
    assert running_matches(observed(3.0), expected, m) > 1.0
