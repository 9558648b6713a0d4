"""The synchronized-statistics report measures real gloo collectives: the count-weighted merge
equals the whole batch to rounding, and the wrong rules err as their closed forms say."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bncheck.report.sync_stats import N, measure
from tests.frameworks import marks
from tests.internals import equal_weight_closed_form

pytestmark = marks("torch")

#: float64 merges of n = 64 values: each merged statistic is a few sums of at most n terms, so
#: its relative error is at most about gamma_{2n} = 2n·u (Higham §4.2) of its scale; the mean
#: error is in units of sigma with |mean|/sigma = 2.5, the variance error is relative.
U64 = 2.0**-53
MERGE_BOUND = 2 * N * U64 * (1 + 2.5) ** 2
#: RMS over R replicas estimates the true RMS with relative standard error about 1/sqrt(2R)
REPLICAS = 400
STAT_REL = 5 / math.sqrt(2 * REPLICAS)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return measure(REPLICAS)


def test_count_weighted_equals_the_whole_batch_to_rounding(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r["case"]["dtype"] != "float64":
            continue
        mean_err, var_err = r["errors"]["count-weighted"]
        assert mean_err <= MERGE_BOUND and var_err <= MERGE_BOUND, r["case"]["sizes"]


def test_equal_weight_mean_error_follows_its_closed_form(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r["case"]["dtype"] != "float64":
            continue
        closed = equal_weight_closed_form(r["case"]["sizes"])
        measured = r["errors"]["equal-weight"][0]
        if closed == 0:
            assert measured <= MERGE_BOUND
        else:
            assert abs(measured - closed) <= STAT_REL * closed, (r["case"]["sizes"], measured)


def test_the_between_shard_term_and_one_pass_matter(rows: list[dict[str, Any]]) -> None:
    f64 = [r for r in rows if r["case"]["dtype"] == "float64"]
    # without the between-shard term the variance loses Σ n_s (mean_s − mean)² / n, whose
    # expectation is (K − 1)/n · sigma² ≈ 0.047 sigma²: far above rounding at every split
    assert all(r["errors"]["no-between-term"][1] > 1e-2 for r in f64)
    f32 = {
        r["case"]["mean"]: r["errors"]["one-pass"][1]
        for r in rows
        if r["case"]["dtype"] == "float32"
    }
    # E[x²] − E[x]² in float32 cancels about (mean/sigma)² · 2^-24 relative: 0.06 at 1000
    assert f32[1000.0] > 1e-2 > f32[10.0]
