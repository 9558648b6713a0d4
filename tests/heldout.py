"""What the held-out corpora's tests share (tests/check/test_heldout3.py, test_heldout4.py,
test_heldout6.py): one row verified and held to its expected result and named mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bncheck.check import VerificationReport, verify


def verdict(
    corpus: Path,
    row: str,
    target: str,
    options: dict[str, Any],
    result: str,
    named: str,
    only: set[str] | None = None,
) -> tuple[VerificationReport, set[str]]:
    """Verify ``target`` of ``corpus`` (float64 unless ``options`` says otherwise: the float32
    runs repeat the same discovery and double the time, and every verdict and name of the
    corpora holds on float64 alone), assert its result and, if given, the mistake named; the
    report and every mistake its failed checks name (with ``only``, exactly those)."""
    report = verify(str(corpus / target), seed=0, **{"dtypes": ("float64",), **options})
    assert report.result == result, (row, [(c.id, c.message[:200]) for c in report.checks])
    diagnosed = {d for c in report.checks if c.status == "fail" for d in c.diagnosis}
    if named:
        assert named in diagnosed, (row, diagnosed)
    if only is not None:  # the only mistakes the row may name
        assert diagnosed == only, (row, diagnosed)
    return report, diagnosed
