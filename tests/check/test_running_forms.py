"""The running check fits what a layer keeps as its running spread statistic (a variance, a
standard deviation with or without eps, an inverse standard deviation), and budgets a layer
that keeps float64 statistics but was handed float32 ones by the dtype they started in."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check import verify
from tests.internals import running_matches
from tests.paths import IMPLS

HERE = IMPLS / "discovery.py"


def test_float64_statistics_started_in_float32_are_budgeted_by_float32() -> None:
    report = verify(f"{HERE}:Float64StatsBN", ndims=(2,), dtypes=("float32",), convention="keras")
    assert report.result == "pass", report.to_text()


def test_a_real_error_in_such_statistics_still_fails() -> None:
    report = verify(
        f"{HERE}:Float64StatsOffBN", ndims=(2,), dtypes=("float32",), convention="keras"
    )
    assert "running/2d/float32" in {c.id for c in report.failed}


def test_the_start_dtype_widens_the_budget_only_when_coarser() -> None:
    expected = [(np.ones(3), np.ones(3))]
    off = 1e-9  # far above float64's running budget, far below float32's
    observed = [(np.ones(3) + off, np.ones(3))]
    assert running_matches(observed, expected, 16) > 1.0
    assert running_matches(observed, expected, 16, np.dtype(np.float32)) <= 1.0
    assert running_matches(observed, expected, 16, np.dtype(np.float64)) > 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_inverse_std_with_eps_outside_the_root_matches_no_form(dtype: str) -> None:
    report = verify(f"{HERE}:InvStdEpsOutsideBN", ndims=(2,), dtypes=(dtype,))
    failed = {c.id for c in report.failed}
    assert f"running/2d/{dtype}" in failed and f"eval/2d/{dtype}" in failed
