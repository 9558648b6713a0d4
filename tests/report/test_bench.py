"""bncheck.report.bench and the performance report: structure, not speed (never timed asserts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck.cli import main
from bncheck.report.bench import (
    CASES,
    FAMILY_GROUPS,
    FLOOR,
    FUNCTIONAL,
    LAYER,
    LAYER_NO_GRAD,
    TORCH,
    Case,
    Timing,
    machine,
    paired_ratio,
    run,
)
from bncheck.report.performance import TARGETS, render_table, verdicts
from tests.frameworks import needs
from tests.paths import REPO

TINY = (
    Case("train (1024, 64) float32", (1024, 64), "float32", "train"),
    Case("eval (8, 4, 4, 4) float64", (8, 4, 4, 4), "float64", "eval"),
)


def test_every_implementation_is_timed_on_every_case() -> None:
    timings = run(rounds=2, cases=TINY, with_torch=False)
    want = {(TINY[0].name, i) for i in (FUNCTIONAL, LAYER, FLOOR)}
    want |= {(TINY[1].name, i) for i in (FUNCTIONAL, LAYER, LAYER_NO_GRAD, FLOOR)}
    assert {(t.case, t.implementation) for t in timings} == want
    assert all(t.median_s > 0 and len(t.rounds) == 2 for t in timings)
    # no copy of x: a train step's peak is one output, not an output and a copy; its growth
    # with the batch is that one output alone (the per-channel vectors cancel; 2 % for
    # tracemalloc's own bookkeeping, far from the 2.0 of a copy)
    for t in timings:
        if t.case.startswith("train") and t.implementation in (FUNCTIONAL, LAYER):
            assert 1.0 <= t.peak_inputs < 1.9, t
            assert abs(t.peak_growth - 1.0) < 0.02, t
        if t.implementation == FLOOR:
            assert math.isnan(t.peak_growth), t


def test_the_peak_growth_sees_a_copy_of_x_that_the_per_channel_vectors_would_hide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forward = bncheck.batchnorm_forward

    def copying(x: Any, *args: Any, **kwargs: Any) -> Any:
        return forward(np.array(x, copy=True), *args, **kwargs)

    monkeypatch.setattr(bncheck, "batchnorm_forward", copying)
    timings = run(rounds=1, cases=TINY[:1], with_torch=False)
    functional = next(t for t in timings if t.implementation == FUNCTIONAL)
    assert abs(functional.peak_growth - 2.0) < 0.02, functional
    assert functional.peak_inputs >= 2.0, functional


FAMILY = (
    Case("LayerNorm fwd+bwd (64, 32) float32", (64, 32), "float32", "train", "layer"),
    Case("RMSNorm forward (64, 32) float32", (64, 32), "float32", "forward", "rms"),
    Case(
        "GroupNorm fwd+bwd (4, 64, 2, 2) G=32 float32", (4, 64, 2, 2), "float32", "train", "group"
    ),
)


def test_the_family_cases_time_bncheck_alone_without_pytorch() -> None:
    timings = run(rounds=2, cases=FAMILY, with_torch=False)
    floor = {(c.name, FLOOR) for c in FAMILY if c.dtype == "float32"}
    assert {(t.case, t.implementation) for t in timings} == {
        (c.name, FUNCTIONAL) for c in FAMILY
    } | floor
    # the peak is measured for bncheck's calls: at least the output (at these tiny sizes the
    # per-set statistics weigh as much as the arrays, so no upper bound is stated)
    assert all(t.peak_inputs >= 1.0 for t in timings if t.implementation == FUNCTIONAL), timings
    got = {v[0].rsplit(":", 1)[0]: v for v in verdicts(timings)}
    for member in ("LayerNorm", "RMSNorm", "GroupNorm"):
        verdict = got[f"bncheck / PyTorch, {member}, forward and fwd+bwd (the worse)"]
        assert verdict[0].endswith(": 1.5") and "not measured" in verdict[1]


def test_the_default_cases_are_the_issues_family_shapes() -> None:
    family = {(c.norm, c.mode): c for c in CASES if c.norm != "batch"}
    assert set(family) == {(n, m) for n in ("layer", "rms", "group") for m in ("train", "forward")}
    for (norm, _), c in family.items():
        assert c.dtype == "float32"
        assert c.shape == ((64, 64, 32, 32) if norm == "group" else (4096, 1024))
        assert c.name.startswith(
            {"layer": "LayerNorm", "rms": "RMSNorm", "group": "GroupNorm"}[norm]
        )
    assert FAMILY_GROUPS == 32


def test_a_family_target_is_met_at_its_limit_and_judged_on_the_worse_pass() -> None:
    def timings(forward: float, both: float) -> list[Timing]:
        return [
            Timing("RMSNorm forward (8, 8) float32", FUNCTIONAL, forward, 1.0, (forward,)),
            Timing("RMSNorm forward (8, 8) float32", TORCH, 1.0, math.nan, (1.0,)),
            Timing("RMSNorm fwd+bwd (8, 8) float32", FUNCTIONAL, both, 1.0, (both,)),
            Timing("RMSNorm fwd+bwd (8, 8) float32", TORCH, 1.0, math.nan, (1.0,)),
        ]

    def verdict(forward: float, both: float) -> tuple[str, str, str]:
        return next(v for v in verdicts(timings(forward, both)) if "RMSNorm" in v[0])

    assert verdict(1.5, 0.5)[1:] == ("1.50", "met")
    assert verdict(0.5, 1.52)[1:] == ("1.52", "NOT met")


@needs("torch")
def test_the_family_cases_time_pytorch_beside_bncheck() -> None:
    timings = run(rounds=1, cases=FAMILY, with_torch=True)
    assert {(t.case, t.implementation) for t in timings} == {
        (c.name, i) for c in FAMILY for i in (FUNCTIONAL, TORCH, FLOOR)
    }
    for c in FAMILY:
        for num, den in ((FUNCTIONAL, TORCH), (FUNCTIONAL, FLOOR), (TORCH, FLOOR)):
            assert not math.isnan(paired_ratio(timings, c.name, num, den)), (c.name, num, den)


def test_the_paired_ratio_is_the_median_of_the_ratios_within_a_round() -> None:
    a = Timing("c", "a", 2.0, math.nan, (1.0, 4.0, 9.0))
    b = Timing("c", "b", 2.0, math.nan, (1.0, 1.0, 3.0))
    # per round 1, 4, 3: median 3 (the ratio of the medians would be 4/1 = 4)
    assert paired_ratio([a, b], "c", "a", "b") == 3.0
    assert math.isnan(paired_ratio([a, b], "c", "a", "missing"))


def test_the_table_and_the_verdicts_render() -> None:
    timings = run(rounds=1, cases=TINY, with_torch=False)
    table = render_table(timings)
    assert "bncheck / floor" in table and "train (1024, 64) float32" in table
    assert "naive" not in table
    got = verdicts(timings)
    assert len(got) == len(TARGETS)
    by = {v[0].rsplit(":", 1)[0]: v for v in got}
    assert "not measured" in by["bncheck / PyTorch, float32 train, functional"][1]
    peak = next(v for k, v in by.items() if k.startswith("bncheck peak extra memory"))
    assert peak[2] == "met", peak


def test_a_target_is_met_at_its_limit_and_not_above() -> None:
    def timings(ratio: float) -> list[Timing]:
        case = "eval (8, 8) float32"
        return [
            Timing(case, FUNCTIONAL, ratio, 1.0, (ratio,)),
            Timing(case, "PyTorch CPU (2 threads)", 1.0, math.nan, (1.0,)),
        ]

    first = TARGETS[0][0]
    assert next(v for v in verdicts(timings(1.1)) if v[0].startswith(first))[2] == "met"
    assert next(v for v in verdicts(timings(1.12)) if v[0].startswith(first))[2] == "NOT met"


def test_the_memory_target_judges_the_growth_at_its_shown_resolution() -> None:
    def verdict(whole: float, growth: float) -> tuple[str, str, str]:
        case = "train (8, 8) float32"
        t = [Timing(case, FUNCTIONAL, 1.0, whole, (1.0,), growth)]
        return next(v for v in verdicts(t) if "memory" in v[0])

    # the per-channel vectors make the whole peak 1.01; the growth decides
    assert verdict(1.01, 1.0000114)[1:] == ("1.00", "met")
    assert verdict(1.0, 1.004)[1:] == ("1.00", "met")
    assert verdict(1.0, 1.006)[1:] == ("1.01", "NOT met")  # more than bookkeeping
    assert verdict(2.0, 2.0)[2] == "NOT met"  # a copy of x


def test_machine_names_numpy() -> None:
    assert "NumPy" in machine()


@pytest.mark.slow
def test_bench_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--rounds", "1"]) == 0
    assert "bncheck bench on" in capsys.readouterr().out


def test_the_benchmark_script_exists() -> None:
    script = REPO / "benchmarks" / "bench_batchnorm.py"
    assert "bench" in script.read_text(encoding="utf-8")
