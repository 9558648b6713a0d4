"""How verify finds and imports a target: as Python would (the working directory and the file's
folder on the path, a file in a package under its dotted name), an import that fails because of
the user's environment told apart from a wrong BN (exit code 3, ``Result: NOT LOADED``), a
missing optional framework named with its extra however the target names it, and a target path
that is not a regular file said as such."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bncheck.check import verify
from bncheck.exceptions import LoadError, TargetImportFailed
from tests.frameworks import hidden

#: a correct functional BN (bncheck's own), importing a helper from its package both ways
LAYERS = """
from pkg.helpers import forward
from .helpers import backward
"""
HELPERS = """
from bncheck import batchnorm_backward as _backward
from bncheck import batchnorm_forward as _forward


def forward(x, gamma, beta, eps):
    return _forward(x, gamma, beta, eps=eps)


def backward(dy, cache):
    return _backward(dy, cache)
"""


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "layers.py").write_text(LAYERS)
    (root / "pkg" / "helpers.py").write_text(HELPERS)
    return root


def _cli(
    args: list[str], cwd: Path, hide: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``bncheck ARGS`` in a fresh process in ``cwd``, with the packages of ``hide`` made
    unimportable in it and in the target process it starts."""
    env = hidden(cwd.parent / f"{cwd.name}-env", *hide)
    return subprocess.run(
        [sys.executable, "-m", "bncheck", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("target", ["pkg/layers.py", "pkg.layers"])
def test_a_target_beside_its_own_package_loads_as_python_loads_it(
    tmp_path: Path, target: str
) -> None:
    project = _project(tmp_path)
    done = _cli(["verify", target, "--ndims", "2", "--dtypes", "float64"], cwd=project)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("Result: PASS")


def test_a_file_in_a_package_loads_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = verify(str(project / "pkg" / "layers.py"), ndims=(2,), dtypes=("float64",))
    assert report.passed


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("import no_such_module_anywhere\n", "No module named 'no_such_module_anywhere'"),
        ("def forward(x:\n", "SyntaxError"),
        ("from pkg.helpers import nothing_of_that_name\n", "cannot import name"),
    ],
    ids=["missing-module", "syntax-error", "missing-name"],
)
def test_a_target_that_cannot_be_imported_is_not_loaded_not_failed(
    tmp_path: Path, source: str, says: str
) -> None:
    project = _project(tmp_path)
    (project / "pkg" / "broken.py").write_text(source)
    done = _cli(["verify", "pkg/broken.py"], cwd=project)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "could not import the target" in done.stdout and says in done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("Result: NOT LOADED")
    as_json = _cli(["verify", "pkg/broken.py", "--json"], cwd=project)
    assert as_json.returncode == 3
    data = json.loads(as_json.stdout)
    assert data["result"] == "not-loaded" and data["passed"] is False, data
    with pytest.raises(TargetImportFailed, match="could not import the target"):
        verify(str(project / "pkg" / "broken.py"))


def test_a_module_that_does_not_exist_stays_a_usage_error(tmp_path: Path) -> None:
    done = _cli(["verify", "no_such_package.layers"], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no module named 'no_such_package'" in done.stderr


_HIDE_TORCH = ("torch",)  # `import torch` fails, as without PyTorch


@pytest.mark.parametrize("target", ["torch.nn.BatchNorm1d", "torch.nn:BatchNorm1d", "torch"])
def test_a_torch_target_without_pytorch_names_the_compare_extra(
    tmp_path: Path, target: str
) -> None:
    done = _cli(["verify", target], cwd=tmp_path, hide=_HIDE_TORCH)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'bncheck[compare]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_imports_torch_without_pytorch_names_the_compare_extra(tmp_path: Path) -> None:
    (tmp_path / "torchbn.py").write_text("import torch\n")
    done = _cli(["verify", "torchbn.py"], cwd=tmp_path, hide=_HIDE_TORCH)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "pip install 'bncheck[compare]'" in done.stdout, done.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_as_a_target_is_said_to_be_one_and_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "bn.py"
    os.mkfifo(fifo)
    with pytest.raises(LoadError, match=r"is a FIFO; expected a Python source file"):
        verify(str(fifo), timeout=5)


def test_a_folder_given_as_a_target_is_said_to_be_one(tmp_path: Path) -> None:
    (tmp_path / "bn.py").mkdir()
    with pytest.raises(LoadError, match=r"is a folder; expected a Python source file"):
        verify(str(tmp_path / "bn.py"))


#: a correct functional BN whose output is scaled by a module global (1 on import)
SCALED = """
from bncheck import batchnorm_backward, batchnorm_forward

SCALE = 1.0


def forward(x, gamma, beta, eps):
    y, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    return SCALE * y, cache


def backward(dy, cache):
    return batchnorm_backward(dy, cache)
"""


def test_a_target_named_by_string_is_imported_afresh_whatever_the_caller_did_to_it(
    tmp_path: Path,
) -> None:
    # the caller has no __main__ file (python -c, as in pytest-xdist workers and notebooks) and
    # has imported the target's module and changed it: a target process forked from it would
    # inherit the change (and any framework threads or started JAX backend); a spawned one
    # imports the file as it is on disk
    (tmp_path / "scaledbn.py").write_text(SCALED)
    code = textwrap.dedent(
        """
        import sys
        import scaledbn
        from bncheck.check import verify
        scaledbn.SCALE = 2.0
        report = verify("scaledbn", ndims=(2,), dtypes=("float64",))
        print("PASS" if report.passed else "FAIL")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=hidden(tmp_path),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["PASS"], done.stdout
