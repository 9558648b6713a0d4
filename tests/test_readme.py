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
