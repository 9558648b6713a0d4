"""bncheck report: the quick reports regenerate to exactly what is committed; the CLI works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bncheck.cli import main
from bncheck.report.build import SECTIONS
from tests.paths import COMMITTED_QUICK
from tests.reportdiff import first_difference


@pytest.fixture(scope="module")
def quick(quick_reports: tuple[Path, list[Path]]) -> Path:
    return quick_reports[0]  # build_all(out, quick=True), once a session (tests/conftest.py)


def test_the_quick_reports_match_the_committed_ones(quick: Path) -> None:
    # Text (every number of the reports) must match byte for byte: a change of the code that
    # changes a result must come with regenerated reports (`bncheck report`). PNG bytes also
    # depend on the installed matplotlib, so for them the set of files is compared here and
    # byte-determinism is tested within one environment (tests/report/test_report_running.py).
    made = sorted(p.name for p in quick.iterdir())
    committed = sorted(p.name for p in COMMITTED_QUICK.iterdir())
    assert made == committed
    for name in made:
        if name.endswith((".md", ".json")):
            made_bytes, committed_bytes = (
                (quick / name).read_bytes(),
                (COMMITTED_QUICK / name).read_bytes(),
            )
            assert made_bytes == committed_bytes, first_difference(
                f"reports/quick/{name}", made_bytes, committed_bytes
            )


def test_the_index_links_every_report_and_summarizes_it(quick: Path) -> None:
    index = (quick / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)]+)\)", index):
        assert (quick / target).is_file(), target
    for section in SECTIONS:
        if section.in_quick:
            assert f"## {section.title}" in index
    assert index.count("\n- ") >= 3 * sum(s.in_quick for s in SECTIONS)


def test_every_image_a_report_shows_exists(quick: Path) -> None:
    for md in quick.glob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text(encoding="utf-8")):
            assert (quick / target).is_file(), f"{md.name} shows a missing {target}"


def test_report_command_writes_one_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--quick", "--only", "running_stats", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "running_stats.md").is_file()
    assert not (tmp_path / "numerical_error.md").exists()
    captured = capsys.readouterr()
    assert "running_stats" in captured.err  # the progress bar
    assert main(["report", "--only", "nonsense", "--out", str(tmp_path)]) == 2
