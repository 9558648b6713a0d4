"""The compiled kernels under AddressSanitizer and UndefinedBehaviorSanitizer.

``benchmarks/sanitize.py`` builds the extension with ``-fsanitize=address,undefined`` in a
scratch copy of the working tree and runs ``tests/bn`` and a fuzz of layouts, dtypes and ranks
through the public API under it; any sanitizer report fails it. It found the kernels' misaligned
loads of x (eval mode) and dy (backward) at an odd byte offset and of a misaligned running
variance, which x86-64 executes without complaint. Slow (about 70 s on 2 cores): it
skips where gcc or its sanitizer runtimes are missing (the script's exit code 77).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.paths import REPO

SCRIPT = REPO / "benchmarks" / "sanitize.py"
SKIPPED = 77


@pytest.mark.slow
def test_the_bn_tests_and_a_layout_fuzz_run_clean_under_asan_and_ubsan() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=3600
    )
    text = out.stdout + out.stderr
    if out.returncode == SKIPPED:
        pytest.skip(text.strip().splitlines()[-1])
    assert out.returncode == 0, text[-8000:]
    assert "sanitize: clean" in out.stdout
