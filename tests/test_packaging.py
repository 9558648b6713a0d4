"""How bncheck installs: the BN needs only NumPy, each tool names the extra it needs, and an
installed (non-editable) bncheck writes nothing beside its own files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tests.paths import COMMITTED_QUICK, REPO

#: what the extras bring; `import bncheck` must work with every one of them missing
OPTIONAL = ("sympy", "mpmath", "hypothesis", "pytest", "tabulate", "matplotlib", "torch")

_BLOCK = textwrap.dedent(
    f"""
    import sys
    for name in {OPTIONAL!r}:
        sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
    """
)


def _python(code: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_the_core_dependency_is_numpy_alone() -> None:
    requires = metadata.requires("bncheck") or []
    core = [r for r in requires if "extra ==" not in r]
    assert [r.split(">")[0].split("=")[0].strip() for r in core] == ["numpy"], core
    extras = metadata.metadata("bncheck").get_all("Provides-Extra") or []
    for extra in ("verify", "derive", "report", "test"):
        assert extra in extras, extra


def test_import_bncheck_and_the_bn_need_only_numpy() -> None:
    done = _python(
        """
        import numpy as np
        import bncheck
        x = np.random.default_rng(0).normal(size=(8, 3))
        y, cache = bncheck.batchnorm_forward(x, np.ones(3), np.zeros(3))
        g = bncheck.batchnorm_backward(np.ones_like(x), cache)
        layer = bncheck.BatchNorm(3)
        layer(x)
        layer.eval()
        layer(x)
        loaded = sorted(m for m in sys.modules if m.startswith("bncheck"))
        print(" ".join(loaded))
        """
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "bncheck.bn.functional" in loaded
    assert not [m for m in loaded if m.startswith(("bncheck.check", "bncheck.report"))], loaded


def test_a_tool_without_its_extra_is_a_usage_error_naming_the_extra() -> None:
    done = _python(
        """
        from bncheck.cli import main
        raise SystemExit(main(["verify", "bncheck.BatchNorm"]))
        """
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'bncheck[verify]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_pytest_plugin_does_not_load_the_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, bncheck.check.pytest_plugin\n"
         "print(sorted(m for m in sys.modules if m.startswith(('bncheck.check._verify',"
         " 'hypothesis', 'mpmath', 'sympy', 'matplotlib'))))"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_an_installed_bncheck_derives_and_reports_without_writing_beside_itself(
    tmp_path: Path,
) -> None:
    """``pip install .`` (not editable), then ``bncheck derive --out`` and ``bncheck report
    --out`` from another folder: the outputs equal the committed ones and the installed tree
    is unchanged, byte for byte and time stamp for time stamp."""
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(site), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if pip.returncode != 0 and "No module named pip" in pip.stderr:
        pytest.skip("this interpreter has no pip")
    assert pip.returncode == 0, pip.stderr
    assert not (site / "derivations").exists(), "installed as a top-level package"
    assert (site / "bncheck" / "derivations" / "__init__.py").is_file()
    before = _snapshot(site)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(site)
    work = tmp_path / "work"
    work.mkdir()
    for args in (["derive", "--out", str(tmp_path / "d")],
                 ["report", "--quick", "--out", str(tmp_path / "r")]):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "bncheck", *args],
            capture_output=True, text=True, timeout=600, cwd=work, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert str(site) not in done.stdout, done.stdout
    assert _snapshot(site) == before
    assert list(work.iterdir()) == []
    reference = tmp_path / "d" / "bncheck" / "check" / "reference.py"
    assert reference.read_bytes() == (REPO / "bncheck" / "check" / "reference.py").read_bytes()
    for name in ("derivation.md", "source_audit.md", "source_audit.json"):
        assert (tmp_path / "d" / "reports" / name).read_bytes() == (
            REPO / "reports" / name
        ).read_bytes(), name
    for path in COMMITTED_QUICK.iterdir():
        assert (tmp_path / "r" / path.name).read_bytes() == path.read_bytes(), path.name
