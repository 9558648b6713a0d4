"""The command line: `bncheck` and `python -m bncheck`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bncheck import __version__
from bncheck.cli import main


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "derive" in capsys.readouterr().out


def test_python_dash_m_bncheck_runs_the_same_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bncheck", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"bncheck {__version__}"


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
