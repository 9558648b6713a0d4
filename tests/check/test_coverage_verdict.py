"""A PASS means checked: a verification in which a check that applies to the target could not be
driven is INCOMPLETE (exit 4), never PASS; it says what was not checked and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bncheck.check import verify
from bncheck.check.testing import assert_batchnorm_correct
from bncheck.cli import main
from bncheck.exceptions import BatchNormVerificationError
from tests.internals import checked_description
from tests.paths import IMPLS

STD_BN = f"{IMPLS / 'coverage.py'}:ClosureStatsBN"
FOUND_BN = f"{IMPLS / 'coverage.py'}:RunningStdBN"
WRONG_EVAL_BN = f"{IMPLS / 'coverage.py'}:RunningStdBatchEval"


def test_running_statistics_of_unknown_name_and_meaning_are_found_and_fitted() -> None:
    """A running standard deviation no name table lists: found by behaviour (blended with each
    training batch), its meaning fitted, eval checked with it."""
    report = verify(FOUND_BN, ndims=(2,), dtypes=("float64",))
    assert report.result == "pass", report.to_text()
    running = next(c for c in report.checks if c.id == "running/2d/float64")
    assert "standard deviation sqrt(var)" in running.message
    assert any("running_std" in line for line in report.mapping)


def test_an_eval_using_batch_statistics_beside_an_unnamed_running_statistic_fails() -> None:
    report = verify(WRONG_EVAL_BN, ndims=(2,), dtypes=("float64",))
    assert report.result == "fail"
    assert {c.id for c in report.failed} == {"eval/2d/float64"}


def test_a_train_eval_switch_without_running_statistics_found_is_incomplete() -> None:
    report = verify(STD_BN, ndims=(2,), dtypes=("float64",))
    assert report.result == "incomplete" and not report.passed
    assert not report.failed
    ids = {c.id for c in report.not_checked}
    assert ids == {"running/2d/float64", "eval/2d/float64", "eval-state/2d/float64"}
    assert all("found no running statistics" in c.message for c in report.not_checked)
    text = report.to_text()
    assert text.rstrip().splitlines()[-1].startswith("Result: INCOMPLETE")
    assert "Not checked: running/2d/float64" in text


def test_an_incomplete_verification_exits_4_unless_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["verify", STD_BN, "--ndims", "2", "--dtypes", "float64"]
    assert main(args) == 4
    assert main([*args, "--accept-incomplete"]) == 0
    capsys.readouterr()
    assert main([*args, "--json"]) == 4
    data = json.loads(capsys.readouterr().out)
    assert data["result"] == "incomplete" and data["passed"] is False
    assert {d["id"] for d in data["not_checked"]} >= {"eval/2d/float64"}


def test_assert_batchnorm_correct_does_not_accept_an_incomplete_verification() -> None:
    with pytest.raises(BatchNormVerificationError, match="INCOMPLETE"):
        assert_batchnorm_correct(STD_BN, ndims=(2,), dtypes=("float64",))


@pytest.mark.parametrize(
    "target",
    ["bncheck.BatchNorm", f"{IMPLS / 'functional.py'}:compact"],
    ids=["layer-with-running-statistics", "functional-without-a-mode"],
)
def test_a_target_whose_every_check_ran_passes(target: str) -> None:
    report = verify(target, ndims=(2,), dtypes=("float64",))
    assert report.result == "pass" and report.passed and report.not_checked == []
    assert "not_checked" not in report.to_dict()


@pytest.mark.parametrize(
    ("running", "mode_switch", "running_found", "says"),
    [
        (True, True, True, ""),
        (False, False, False, ""),  # a functional BN: neither applies
        (False, True, False, "found no running statistics"),
        (False, False, True, "found no train/eval switch"),
    ],
    ids=["driven", "neither", "switch-without-statistics", "statistics-without-switch"],
)
def test_what_applies_but_cannot_be_driven_is_decided_from_what_was_found(
    running: bool, mode_switch: bool, running_found: bool, says: str
) -> None:
    description = checked_description(
        {"running": running, "mode_switch": mode_switch, "running_found": running_found}
    )
    reason = description.unchecked_state
    assert (reason == "") == (says == "") and says in reason


def test_a_hostile_description_cannot_claim_more_than_plain_booleans(tmp_path: Path) -> None:
    description = checked_description(
        {"mode_switch": "yes", "running_found": 1, "compiles_per_shape": "true"}
    )
    assert description.mode_switch is False and description.running_found is False
    assert description.compiles_per_shape is False
    assert checked_description({"compiles_per_shape": True}).compiles_per_shape is True


def test_a_rank_refused_on_purpose_is_said_and_the_rest_passes() -> None:
    report = verify(f"{IMPLS / 'coverage.py'}:FlatOnlyBN", dtypes=("float64",))
    assert report.result == "pass", report.to_text()
    skipped = report.coverage["forward"]["not_run"]["4d/float64"]
    assert "rejects 4-D input" in skipped and "expected a 2-D (N, C) input" in skipped


def test_a_rank_the_code_takes_but_breaks_on_is_not_a_pass() -> None:
    report = verify(f"{IMPLS / 'coverage.py'}:BreaksOn4DBN", dtypes=("float64",))
    assert report.result == "incomplete", report.to_text()
    assert {c.id for c in report.not_checked} >= {"forward/4d/float64", "backward/4d/float64"}
    assert "IndexError" in report.not_checked[0].message


@pytest.mark.parametrize(
    ("raised", "refusal"),
    [
        ("ValueError: expected 4D input (got 2D input)", True),
        ("ValueError: x must be (N, C)", True),
        ("AssertionError: ", True),
        ("NotImplementedError: only 2-D inputs are supported", True),
        ("IndexError: list index out of range", False),
        ("ValueError: operands could not be broadcast together with shapes (2,3) (3,)", False),
        ("ValueError: cannot reshape array of size 24 into shape (8,3)", False),
        ("ValueError: the output has shape (2, 3) for a 4-D input", False),
        ("KeyError: 'running_mean'", False),
    ],
)
def test_what_reads_as_a_refusal_of_a_rank(raised: str, refusal: bool) -> None:
    from tests.internals import rejects_rank

    assert rejects_rank(raised) is refusal


def test_the_json_report_lists_coverage_per_family() -> None:
    report = verify("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
    data = json.loads(report.to_json())
    assert data["coverage"]["running"] == {"ran": ["2d/float64"], "not_run": {}}
    assert "Coverage (what ran, per check family):" in report.to_text()


def test_a_rank_not_checked_says_whether_the_target_crashed_or_answered_in_another_shape() -> None:
    from tests.internals import broke_on_rank

    crash = broke_on_rank(4, "IndexError: tuple index out of range")
    assert crash.startswith("on a 4-D input the target raised IndexError")
    assert "rather than a refusal of 4-D input; 4-D was not checked" in crash
    shape = broke_on_rank(4, "ValueError: the output has shape (2, 3, 4) for a 4-D input")
    assert "raised" not in shape and "ValueError" not in shape
    assert "returned an output of another shape (output has shape (2, 3, 4)" in shape
