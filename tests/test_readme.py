"""The README's Python examples run as written."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bncheck.check.testing import assert_batchnorm_correct

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_a_python_example() -> None:
    assert python_blocks()


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files
    namespace: dict[str, object] = {}
    exec(compile(python_blocks()[index], f"README.md[python block {index}]", "exec"), namespace)
    # test functions shown in the README run too, with the plugin's fixture where they ask
    fixtures = {"assert_batchnorm_correct": assert_batchnorm_correct}
    for name, fn in namespace.items():
        if name.startswith("test_") and callable(fn):
            params = inspect.signature(fn).parameters
            fn(**{p: fixtures[p] for p in params})


def _setup_commands() -> list[str]:
    """The commands of the README's set-up block, in order (comments and blank lines aside)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None, "the README's Set-up section has no bash block"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_ci_runs_the_readme_set_up_and_test_commands_verbatim_before_any_framework() -> None:
    """CI's first stage is the README as a new user runs it: its two commands, verbatim, in
    order, before anything else is installed."""
    commands = _setup_commands()
    assert len(commands) == 2, commands
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    lines = [line.strip() for line in ci]
    # a command runs as written, alone or under .ci/run's time limit (`run_tests SECONDS CMD`)
    runs = [re.sub(r"^run_tests \d+ ", "", line) for line in lines]
    positions = [runs.index(c) if c in runs else -1 for c in commands]
    assert -1 not in positions, f"a README command is not a line of .ci/run: {commands}"
    assert positions == sorted(positions), "the README's commands run out of order in .ci/run"
    installs = [
        i for i, line in enumerate(lines) if "pip install" in line and not line.startswith("#")
    ]
    assert installs and min(installs) == positions[0], (
        "something is installed before the README's set-up"
    )
    framework = [
        i
        for i, line in enumerate(lines)
        if re.search(r"\b(torch|jax|keras)\b", line) and "pip install" in line
    ]
    assert framework and min(framework) > positions[1], "a framework is installed before the tests"
