"""The byte-compared reports depend on bncheck's code alone, not on the machine.

The quick reports are generated in fresh processes (1) with every optional SIMD feature NumPy
dispatches to switched off (``NPY_DISABLE_CPU_FEATURES``; on a CPU with AVX-512 that takes
away the AVX-512 kernels, here the AVX2 ones) and the C library's FMA/AVX2 variants of its maths
functions hidden, and (2) with PyTorch hidden from the import system. Each must equal the
committed copy byte for byte, as the report made in this process does
(``tests/report/test_report.py``): so a CPU with other features, or a machine without PyTorch, makes
the same files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import COMMITTED_QUICK
from tests.reportdiff import first_difference

_CHILD = """
import json, sys
from pathlib import Path
if {hide_torch}:
    sys.modules["torch"] = None  # `import torch` now raises ImportError
try:
    from numpy._core import _multiarray_umath as umath
except ImportError:  # NumPy 1.x
    from numpy.core import _multiarray_umath as umath
from bncheck.report.build import build_all
build_all(Path(sys.argv[1]), quick=True)
on = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
torch = sys.modules.get("torch") is not None
print(json.dumps({{"dispatch_on": on, "torch": torch}}))
"""


def _umath() -> object:
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    return umath


def optional_cpu_features() -> list[str]:
    """The SIMD features NumPy found on this CPU beyond its baseline (the ones it dispatches)."""
    umath: object = _umath()
    dispatch: list[str] = list(getattr(umath, "__cpu_dispatch__", []))
    found: dict[str, bool] = dict(getattr(umath, "__cpu_features__", {}))
    return [f for f in dispatch if found.get(f)]


def _start(out: Path, *, features_off: bool, hide_torch: bool) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if features_off:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(optional_cpu_features())
        # glibc's libm picks FMA/AVX2 variants of exp, log, pow, ... at load time; names it
        # does not know are ignored
        env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F,-AVX2_Usable,-FMA_Usable"
    code = _CHILD.format(hide_torch=hide_torch)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _text_files(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".md", ".json")
    }


@pytest.mark.torch  # runs in both CI stages: it means most where PyTorch is there to hide
def test_the_quick_reports_are_the_same_without_simd_features_and_without_pytorch(
    tmp_path: Path,
) -> None:
    runs = {
        "features off": _start(tmp_path / "off", features_off=True, hide_torch=False),
        "torch hidden": _start(tmp_path / "notorch", features_off=False, hide_torch=True),
    }
    outputs = {}
    for name, proc in runs.items():  # both run at once (two cores)
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
        outputs[name] = json.loads(stdout.strip().splitlines()[-1])
    # the switches took effect
    assert outputs["features off"]["dispatch_on"] == []
    assert outputs["torch hidden"]["torch"] is False
    committed = _text_files(COMMITTED_QUICK)
    assert committed, "no committed quick reports"
    for name, folder in (
        ("features off", tmp_path / "off"),
        ("torch hidden", tmp_path / "notorch"),
    ):
        made = _text_files(folder)
        assert sorted(made) == sorted(committed), name
        for file, data in made.items():
            assert data == committed[file], first_difference(
                f"{name}: reports/quick/{file}", data, committed[file]
            )
