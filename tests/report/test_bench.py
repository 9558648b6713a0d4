"""bncheck.report.bench and the performance report: structure, not speed (never timed asserts)."""

from __future__ import annotations

import pytest

from bncheck.cli import main
from bncheck.report.bench import FLOOR, Case, machine, run
from bncheck.report.performance import render_table, verdicts
from tests.paths import REPO

TINY = (
    Case("train (64, 8) float32", (64, 8), "float32", "train"),
    Case("eval (8, 4, 4, 4) float64", (8, 4, 4, 4), "float64", "eval"),
)


def test_every_implementation_is_timed_on_every_case() -> None:
    timings = run(rounds=2, cases=TINY, with_torch=False)
    assert {(t.case, t.implementation) for t in timings} == {
        (c.name, i) for c in TINY for i in ("bncheck", "naive staged", FLOOR)
    }
    assert all(t.median_s > 0 for t in timings)
    # bncheck's cache keeps one copy of x in training: at least one input-sized array
    train = next(t for t in timings if t.implementation == "bncheck" and "train" in t.case)
    assert train.peak_inputs >= 1.0


def test_the_table_and_the_verdicts_render() -> None:
    timings = run(rounds=1, cases=TINY, with_torch=False)
    table = render_table(timings)
    assert "naive / bncheck" in table and "train (64, 8) float32" in table
    targets = {v[0].split(":")[0]: v for v in verdicts(timings)}
    assert "not measured" in targets["bncheck time / PyTorch time, float32 train"][1]
    assert targets["bncheck peak extra memory, input-sized arrays"][2] in ("met", "NOT met")


def test_machine_names_numpy() -> None:
    assert "NumPy" in machine()


@pytest.mark.slow
def test_bench_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--rounds", "1"]) == 0
    assert "bncheck bench on" in capsys.readouterr().out


def test_the_benchmark_script_exists() -> None:
    script = REPO / "benchmarks" / "bench_batchnorm.py"
    assert "bench" in script.read_text(encoding="utf-8")
