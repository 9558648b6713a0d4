"""The architecture of docs/design.md section 2 holds: its contracts, and what loads later.

The layers and forbidden imports are contracts in pyproject.toml (``[tool.importlinter]``),
checked here with import-linter as CI checks them (``lint-imports``), so that the README's
test command catches a drift of the code from the document too. An import graph cannot tell
an import made when a function runs from one made at import time; what the document says is
loaded only later is checked here at run time, in a fresh interpreter."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.paths import REPO

#: the optional frameworks: imported only where they are used, when a function runs
FRAMEWORKS = ("torch", "jax", "flax", "keras", "equinox", "haiku", "tinygrad", "mygrad")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def test_the_architecture_contracts_are_kept() -> None:
    beside = Path(sys.executable).with_name("lint-imports")
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "lint-imports not found: install the [test] extra"
    done = subprocess.run(
        [command, "--no-cache", "--no-logo"], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_the_pytest_plugin_loads_neither_the_engine_nor_its_dependencies() -> None:
    done = _python(
        """
        import sys
        import bncheck.check.pytest_plugin
        heavy = ("bncheck.check._verify", "bncheck.check.truth", "hypothesis", "mpmath")
        print(" ".join(sorted(m for m in sys.modules if m.startswith(heavy))))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_every_module_imports_without_the_optional_frameworks() -> None:
    """PyTorch, JAX, Flax and Keras are imported where they are used, when a function runs:
    with each of them unimportable, every module of bncheck still imports."""
    done = _python(
        f"""
        import importlib, pkgutil, sys
        for name in {FRAMEWORKS!r}:
            sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
        import bncheck
        names = [m.name for m in pkgutil.walk_packages(bncheck.__path__, "bncheck.")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 80
