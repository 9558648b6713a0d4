"""The command line: `bncheck` and `python -m bncheck`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bncheck
from bncheck import __version__
from bncheck.cli import build_parser, main


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


def _actions() -> list[tuple[str, argparse.Action]]:
    """(command, option) for every option of every subcommand, help and version aside."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        (name, action)
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction)
    ]


@pytest.mark.parametrize(
    ("command", "action"), _actions(), ids=[f"{c}-{a.dest}" for c, a in _actions()]
)
def test_every_option_has_help_that_states_its_default(
    command: str, action: argparse.Action
) -> None:
    assert action.help, f"bncheck {command}: {action.dest} has no help text"
    if action.option_strings:
        assert "default" in action.help, f"bncheck {command} {action.option_strings[0]}: no default"


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bncheck", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, **env},
    )


def _odd_out(tmp_path: Path, kind: str) -> Path:
    if kind == "under a file":
        (tmp_path / "afile").write_text("")
        return tmp_path / "afile" / "sub"
    if kind == "a file":
        (tmp_path / "afile").write_text("")
        return tmp_path / "afile"
    if kind == "a dangling symlink":
        (tmp_path / "link").symlink_to(tmp_path / "nowhere")
        return tmp_path / "link"
    assert kind == "under /proc"
    return Path("/proc/self/bncheck-reports")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("kind", ["under a file", "a file", "a dangling symlink", "under /proc"])
@pytest.mark.parametrize("command", ["report", "derive"])
def test_an_out_folder_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, kind: str, command: str
) -> None:
    out = _odd_out(tmp_path, kind)
    before = sorted(tmp_path.rglob("*"))
    done = _cli(
        [command, *(["--quick"] if command == "report" else []), "--out", str(out)], cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert f"--out {out}" in done.stderr and "expected a folder" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(tmp_path.rglob("*")) == before, "a refused --out changed the file system"


def test_verify_writes_nothing_into_the_working_folder(tmp_path: Path) -> None:
    done = _cli(["verify", "bncheck.BatchNorm", "--ndims", "2"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_verify_keeps_hypothesis_s_cache_in_bncheck_s_cache_home(tmp_path: Path) -> None:
    """Hypothesis caches the constants it reads from the source of local modules (bncheck's,
    in an editable install): in bncheck's cache home, kept between runs, never the working
    folder."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    args = ["verify", "bncheck.BatchNorm", "--ndims", "2", "--dtypes", "float64"]
    done = _cli(args, cwd=work, BNCHECK_CACHE_HOME=str(home))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list(work.iterdir()) == []
    written = [p for p in home.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(home / "hypothesis") for p in written), written
    if "site-packages" not in Path(bncheck.__file__).parts:  # local code to Hypothesis
        assert written, "no constants cached"


def test_verify_runs_when_its_cache_home_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    work = tmp_path / "work"
    work.mkdir()
    args = ["verify", "bncheck.BatchNorm", "--ndims", "2", "--dtypes", "float64"]
    done = _cli(args, cwd=work, BNCHECK_CACHE_HOME=str(blocker / "home"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list(work.iterdir()) == [] and blocker.read_text() == "not a folder"


def test_output_survives_an_ascii_only_terminal(tmp_path: Path) -> None:
    target = tmp_path / "bn_ünïcode.py"
    target.write_text(
        "from bncheck import batchnorm_forward as forward\n"
        "from bncheck import batchnorm_backward as backward\n"
    )
    done = _cli(
        ["verify", target.name, "--ndims", "2", "--dtypes", "float64"],
        cwd=tmp_path,
        PYTHONIOENCODING="ascii",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "bn_\\xfcn\\xefcode.py" in done.stdout and "Result: PASS" in done.stdout
