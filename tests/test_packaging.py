"""How bncheck installs: the BN needs only NumPy, each tool names the extra it needs, and an
installed (non-editable) bncheck writes nothing beside its own files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
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
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


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
        [
            sys.executable,
            "-c",
            "import sys, bncheck.check.pytest_plugin\n"
            "print(sorted(m for m in sys.modules if m.startswith(('bncheck.check._verify',"
            " 'hypothesis', 'mpmath', 'sympy', 'matplotlib'))))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


#: what a copy of the checkout leaves out: environments, builds and caches
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.so",
)


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def _package_dirs() -> set[str]:
    """Every package of the source tree, as installed: bncheck's and derivations' folders that
    hold an __init__.py (derivations/ is installed as bncheck/derivations/)."""
    found = {str(p.parent.relative_to(REPO)) for p in (REPO / "bncheck").rglob("__init__.py")}
    found |= {
        "bncheck/" + str(p.parent.relative_to(REPO))
        for p in (REPO / "derivations").rglob("__init__.py")
    }
    return found


@pytest.mark.slow
def test_a_wheel_built_as_pip_builds_it_runs_every_command_from_a_fresh_environment(
    tmp_path: Path,
) -> None:
    """A wheel built from a copy of the tree with build isolation (as ``pip install .`` does),
    installed with the verify, derive and report extras into a fresh virtual environment that
    shares nothing with this one; from another folder, ``bncheck verify bncheck.BatchNorm``
    passes, ``bncheck derive --out`` and ``bncheck report --quick --out`` write what is
    committed, and nothing is written beside the installed package or into the working
    folder."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels = tmp_path / "wheels"
    built = _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("bncheck-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = {str(Path(n).parent) for n in archive.namelist() if n.endswith("/__init__.py")}
    assert _package_dirs() <= inside, f"packages missing from the wheel: {_package_dirs() - inside}"
    assert not any(n.startswith("derivations/") for n in inside), "a top-level derivations"
    installed = _run([*pip, "install", f"{wheel}[verify,derive,report]"], tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    site = Path(
        _run(
            [str(python), "-c", "import bncheck, os; print(os.path.dirname(bncheck.__file__))"],
            cwd=tmp_path,
        ).stdout.strip()
    )
    assert site.is_dir() and not site.is_relative_to(REPO), site
    before = _snapshot(site)
    work = tmp_path / "work"
    work.mkdir()
    bncheck = str(venv / "bin" / "bncheck")
    verified = _run([bncheck, "verify", "bncheck.BatchNorm"], cwd=work)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    assert verified.stdout.rstrip().endswith("Result: PASS"), verified.stdout[-2000:]
    for args in (
        ["derive", "--out", str(tmp_path / "d")],
        ["report", "--quick", "--out", str(tmp_path / "r")],
    ):
        done = _run([bncheck, *args], cwd=work)
        assert done.returncode == 0, done.stderr[-3000:]
        assert str(site) not in done.stdout, done.stdout
    assert _snapshot(site) == before, "the installed package changed"
    assert list(work.iterdir()) == [], "a command wrote into the working folder"
    reference = tmp_path / "d" / "bncheck" / "check" / "reference.py"
    assert reference.read_bytes() == (REPO / "bncheck" / "check" / "reference.py").read_bytes()
    for name in ("derivation.md", "source_audit.md", "source_audit.json"):
        assert (tmp_path / "d" / "reports" / name).read_bytes() == (
            REPO / "reports" / name
        ).read_bytes(), name
    for path in COMMITTED_QUICK.iterdir():
        assert (tmp_path / "r" / path.name).read_bytes() == path.read_bytes(), path.name
