"""For users' own test suites: assert that a BN implementation passes every bncheck check.

    from bncheck.check.testing import assert_batchnorm_correct

    def test_my_batchnorm():
        assert_batchnorm_correct("mypkg/bn.py", convention="torch")

With bncheck installed, pytest also provides this function as the fixture
``assert_batchnorm_correct`` (plugin ``bncheck.check.pytest_plugin``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bncheck.check._verify import VerificationReport, verify
from bncheck.exceptions import BatchNormVerificationError

__all__ = ["BatchNormVerificationError", "assert_batchnorm_correct"]


def assert_batchnorm_correct(target: Any, **options: Any) -> VerificationReport:
    """Run :func:`bncheck.verify` on ``target`` and raise if any check fails.

    Parameters
    ----------
    target : str or object
        As for :func:`bncheck.verify`. A relative path ``"layers.py[:Name]"`` is resolved
        against the folder of the test file that calls this.
    **options
        Those of :func:`bncheck.verify` (convention, dtypes, ndims, thorough, examples,
        timeout, seed, axis, strict, deadline, memory_limit, world_size, load_timeout).

    Returns
    -------
    VerificationReport
        The report, when every check passes.

    Raises
    ------
    BatchNormVerificationError
        A check failed (an AssertionError), with the full text report, the shrunk
        counterexample and the diagnosis.
    bncheck.exceptions.LoadError
        The target cannot be loaded.

    Examples
    --------
    >>> from bncheck.check.testing import assert_batchnorm_correct
    >>> report = assert_batchnorm_correct("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
    >>> report.passed
    True
    """

    report = verify(_relative_to_caller(target, sys._getframe(1).f_code.co_filename), **options)
    if not report.passed:
        raise BatchNormVerificationError(report.to_text(), report)
    return report


def _relative_to_caller(target: Any, caller: str) -> Any:
    """A relative ``file.py[:name]`` is looked for beside the calling test file first (then
    in the working directory, as before)."""
    if not isinstance(target, str):
        return target
    base, sep, attr = target.partition(":")
    if not base.endswith(".py") or Path(base).is_absolute():
        return target
    beside = Path(caller).resolve().parent / base
    if beside.is_file():
        return f"{beside}{sep}{attr}"
    return target
