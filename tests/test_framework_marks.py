"""The framework marks stay honest: a test that skips for a missing framework without its mark
fails (CI's framework stage selects tests by mark, so an unmarked one would run nowhere), and a
marked one skips cleanly."""

from __future__ import annotations

import pytest

from tests.paths import TESTS

_MODULE = """
import pytest
from tests.frameworks import needs


def test_unmarked():
    pytest.skip("no_such_framework_pkg not installed")


@needs("torch")
def test_marked():
    pass
"""


def test_a_skip_for_a_missing_framework_needs_the_framework_mark(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))  # tests.frameworks, in the subprocess
    pytester.makeconftest((TESTS / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_marks=_MODULE.replace("no_such_framework_pkg", "torch"))
    pytester.makeini("[pytest]\nmarkers =\n    torch: t\n    jax: j\n    keras: k\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_unmarked*carries no framework mark*"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, outcomes
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 1, outcomes
