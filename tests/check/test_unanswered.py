"""A target that does not answer in time is not checked, never failed nor passed.

A call past its timeout (or the load past --load-timeout, or the run past --deadline, or a call
not run after one of those) says nothing about the BN: a framework compiling or interpreting its
kernels answers late on a loaded machine, a hung one never, and bncheck cannot tell the two
apart. ``unanswered_not_checked`` turns the checks such an error stopped into not-checked ones
(the verification incomplete, exit 4), and leaves every check that has other evidence failed.
Its decisions are tested row by row here, and end to end on targets that answer the first calls
and then stop, or flood while they hang.
"""

from __future__ import annotations

from pathlib import Path

from bncheck.check import CheckResult, verify
from tests.internals import unanswered_not_checked

LATE = "backward did not return within 10 s (hang?)"


def _one(row: CheckResult, unanswered: list[str]) -> CheckResult:
    rows = [row]
    unanswered_not_checked(rows, unanswered)
    return rows[0]


def test_a_check_stopped_only_by_a_timeout_is_not_checked_with_the_reason_kept() -> None:
    got = _one(CheckResult("backward/2d/float32", "fail", 0.4, 1.0, message=LATE), [LATE])
    assert got.status == "not-checked" and got.message.startswith(LATE)
    assert "did not answer in time" in got.message and "--timeout" in got.message
    assert (got.worst, got.budget) == (0.4, 1.0)  # what it had measured, within budget


def test_a_wrapped_message_counts_and_so_does_the_load_and_the_deadline() -> None:
    load = "loading the target did not finish within 60 s (--load-timeout)"
    row = CheckResult("load", "fail", message=f"the target failed while loading: {load}")
    assert _one(row, [load]).status == "not-checked"
    late = "eval not run: the overall deadline of 300 s passed (--deadline)"
    assert _one(CheckResult("eval/2d/float64", "fail", message=late), [late]).status == (
        "not-checked"
    )


def test_evidence_of_a_defect_keeps_the_check_failed() -> None:
    over = CheckResult("forward/2d/float64", "fail", 7.0, 2.0, message=LATE)
    assert _one(over, [LATE]).status == "fail"  # it had measured an error over budget
    at = CheckResult("forward/2d/float64", "fail", 2.0, 2.0, message=LATE)
    assert _one(at, [LATE]).status == "not-checked"  # at the budget is within it
    named = CheckResult("backward/2d/float64", "fail", message=LATE, diagnosis=["eps-twice"])
    assert _one(named, [LATE]).status == "fail"
    other = CheckResult("backward/2d/float64", "fail", message="dx contains nan")
    assert _one(other, [LATE]).status == "fail"
    assert _one(other, []).status == "fail"
    passed = CheckResult("eval/2d/float64", "pass")
    assert _one(passed, [LATE]).status == "pass"
    assert _one(CheckResult("x", "fail", message=LATE), [""]).status == "fail"  # no message


SLOW_AFTER = """
import os, time
import numpy as np

CALLS = [0]


def batchnorm_forward(x, gamma, beta, eps):
    CALLS[0] += 1
    if CALLS[0] > {n}:
        time.sleep(3600)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward(dy, cache):
    xhat, gamma, var, eps = cache
    m = dy.shape[0]
    dxhat = dy * gamma
    dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(var + eps)
    return dx, (dy * xhat).sum(0), dy.sum(0)
"""


def test_checks_that_ran_keep_their_verdicts_and_the_rest_are_not_checked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "slow_after.py"
    path.write_text(SLOW_AFTER.format(n=40))
    report = verify(str(path), timeout=2.0, ndims=(2,), dtypes=("float64",))
    assert report.result == "incomplete" and not report.passed and not report.failed
    assert any(c.status == "pass" for c in report.checks)  # what ran before it stopped
    assert all("did not answer in time" in c.message for c in report.not_checked)


def test_a_wrong_bn_that_later_hangs_still_fails(tmp_path: Path) -> None:
    path = tmp_path / "wrong_then_slow.py"
    path.write_text(SLOW_AFTER.format(n=40).replace("var + eps", "var + 2 * eps"))
    report = verify(str(path), timeout=2.0, ndims=(2,), dtypes=("float64",))
    assert report.result == "fail" and report.failed


FLOODS_AND_HANGS = """
import sys, time


def batchnorm_forward(x, gamma, beta, eps):
    for _ in range(100000):
        sys.stdout.write("x" * 1000)
    time.sleep(3600)


def batchnorm_backward(dy, cache):
    raise AssertionError
"""


def test_a_target_that_floods_while_it_hangs_is_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "floods.py"
    path.write_text(FLOODS_AND_HANGS)
    report = verify(str(path), timeout=2.0, ndims=(2,), dtypes=("float64",))
    assert report.result == "fail"
    assert any("stdout/stderr" in c.message for c in report.failed)  # the flood, named


SLOW_LAYERNORM = """
import time
import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    time.sleep(3600)


def layernorm_backward(dout, cache):
    raise AssertionError
"""


def test_a_family_target_that_does_not_answer_while_its_member_is_fitted_is_not_checked(
    tmp_path: Path,
) -> None:
    """The fit of what a family target computes runs first; a timeout there ends the run as
    incomplete with the reason (it once escaped verify as a raw TargetError, exit 1)."""
    path = tmp_path / "slow_ln.py"
    path.write_text(SLOW_LAYERNORM)
    report = verify(f"{path}:layernorm", timeout=1.0)
    assert report.result == "incomplete" and not report.failed
    (norm,) = [c for c in report.checks if c.id == "norm"]
    assert norm.status == "not-checked" and "did not return within 1 s" in norm.message
