"""The survey report (reports/frameworks.md): each installed framework's section carries verify's
verdict, its conventions, the forward error per regime and dtype, and findings with
reproductions; frameworks not installed are listed. Built here on MyGrad alone (fast)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bncheck.report import framework_survey
from tests.frameworks import needs


def test_every_surveyed_entry_has_a_runner_and_every_reproduction_an_entry() -> None:
    keys = {e.key for e in framework_survey.SURVEY}
    assert keys == set(framework_survey.RUNNERS)
    assert {k for k, _ in framework_survey.REPRODUCTIONS} <= keys
    assert set(framework_survey.UNEXPLAINED_REPRODUCTIONS) <= keys
    for entry in framework_survey.SURVEY:  # a verify target, or a file's source defining bn
        assert bool(entry.target) != bool(entry.source), entry.key
        assert "bn = " in entry.source or "def bn(c)" in entry.source or not entry.source


@needs("mygrad")
def test_the_survey_of_one_framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mygrad = next(e for e in framework_survey.SURVEY if e.key == "mygrad")
    absent = framework_survey.Entry("nothing", "Nothing", "nothing.BN", ("no_such_pkg",), "x")
    monkeypatch.setattr(framework_survey, "SURVEY", (mygrad, absent))
    built = framework_survey.build(tmp_path)
    text = (tmp_path / "frameworks.md").read_text(encoding="utf-8")
    assert built.paths == [tmp_path / "frameworks.md"]
    assert "## MyGrad (mygrad " in text and "**PASS**" in text
    assert '"y(x) = (x - E[x]) / sqrt(Var[x] + eps)"' in text  # its documentation, quoted
    for regime, *_ in framework_survey.REGIMES:
        assert f"| {regime}: " in text
    assert "## Not installed here" in text and "Nothing." in text
    # the index's lines are the same on every machine: no verdict, no framework's name
    assert not any("MyGrad" in line or "PASS" in line for line in built.summary)


@needs("mygrad")
def test_the_measured_errors_are_those_of_a_correct_float64_bn() -> None:
    errors = framework_survey.measure("mygrad")
    # MyGrad computes in the input's dtype: float64 is within float64 rounding of the truth
    assert float(errors["typical"]["float64"]) < 1e-13
    assert float(errors["typical"]["float32"]) < 1e-5


def test_the_verdict_line_says_pass_fail_or_incomplete_never_fail_of_nothing() -> None:
    """An incomplete verification (a framework whose calls timed out: tinygrad interpreting
    its kernels) is said as such, not as "FAIL (0 checks)"."""
    from bncheck.check import CheckResult, VerificationReport

    def report(*statuses: str) -> VerificationReport:
        rows = [CheckResult(f"c{i}", s, message="m") for i, s in enumerate(statuses)]
        return VerificationReport("t", "layer", rows, 0.0, {})

    assert framework_survey.verdict(report("pass", "skip")) == "PASS"
    assert framework_survey.verdict(report("pass", "fail", "fail")) == "FAIL (2 checks)"
    assert framework_survey.verdict(report("pass", "not-checked")) == (
        "INCOMPLETE (1 check not checked)"
    )


@needs("torch")
def test_the_batchnorm2d_reproduction_shows_pytorchs_wrong_dbias() -> None:
    # the survey's reproduction of the failure verify finds on x and dy in different layouts:
    # run as a user would, it prints a dbias error of whole units (0 for a right BN)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(framework_survey.UNEXPLAINED_REPRODUCTIONS["torch-2d"], {})
    assert float(out.getvalue()) > 0.5


@needs("torch")
def test_the_batchnorm2d_forward_runner_is_the_bn_of_the_same_values() -> None:
    errors = framework_survey.measure("torch-2d")
    assert float(errors["typical"]["float64"]) < 1e-13


def test_entries_surveyed_at_once_keep_table_order_and_their_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed entries run in worker processes, one per CPU; the page lists them in table
    order whatever order they finish in, and an entry's environment variables stay its own."""
    from bncheck.report import build as build_module

    entries = tuple(
        framework_survey.Entry(
            f"e{k}",
            f"Entry {k}",
            f"no_such_module_{k}.BN",
            ("numpy",),
            "numpy",
            env=(("BNCHECK_SURVEY_PROBE", str(k)),) if k == 1 else (),
        )
        for k in range(3)
    )
    monkeypatch.setattr(framework_survey, "SURVEY", entries)
    monkeypatch.setattr(build_module, "usable_cpus", lambda: 2)
    monkeypatch.setattr(framework_survey, "usable_cpus", lambda: 2)
    framework_survey.build(tmp_path)
    text = (tmp_path / "frameworks.md").read_text(encoding="utf-8")
    where = [text.index(f"## Entry {k}") for k in range(3)]
    assert where == sorted(where)
    assert "BNCHECK_SURVEY_PROBE=1 bncheck verify no_such_module_1.BN" in text
    assert text.count("could not run") == 3
    assert "BNCHECK_SURVEY_PROBE" not in os.environ


def test_an_entry_past_the_deadline_is_incomplete_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A framework slower than the survey's deadline here (tinygrad interpreting its kernels)
    is INCOMPLETE, with verify's reason on the page, never held for minutes nor passed."""
    slow = framework_survey.Entry(
        "slow",
        "Slow",
        "",
        ("numpy",),
        "numpy",
        source="import time\n"
        "import numpy as np\n\n\n"
        "def bn_forward(x, gamma, beta, eps):\n"
        "    if x.size > 2000:\n"
        "        time.sleep(60)\n"
        "    mu = x.mean(0)\n"
        "    xc = x - mu\n"
        "    inv = 1 / np.sqrt((xc * xc).mean(0) + eps)\n"
        "    return gamma * xc * inv + beta, (xc * inv, inv, gamma)\n\n\n"
        "def bn_backward(dy, cache):\n"
        "    xh, inv, gamma = cache\n"
        "    db, dg = dy.sum(0), (dy * xh).sum(0)\n"
        "    return gamma * inv * (dy - db / len(dy) - xh * dg / len(dy)), dg, db\n",
    )
    monkeypatch.setattr(framework_survey, "SURVEY", (slow,))
    monkeypatch.setattr(framework_survey, "DEADLINE", 8.0)
    framework_survey.build(tmp_path)
    text = (tmp_path / "frameworks.md").read_text(encoding="utf-8")
    assert "**INCOMPLETE (" in text, text
    assert "- not checked: " in text
