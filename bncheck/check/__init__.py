"""The toolkit that checks Batch Normalizations (extra ``[verify]``: mpmath, Hypothesis).

- :func:`verify` and :func:`adapt`: check anyone's BN (engine: the private ``_verify``);
  :class:`VerificationReport` is what ``verify`` returns (``to_text``, ``to_json``), each of
  its ``checks`` a :class:`CheckResult`.
- :mod:`bncheck.check.tolerances`: the one table of error budgets;
  :mod:`bncheck.check.conditions`: the per-channel conditions they scale with;
  :mod:`bncheck.check.metrics`: error metrics and the judgement of an output (``compare``).
- :mod:`bncheck.check.truth`: the exact (mpmath) BN; :mod:`bncheck.check.reference`: plain
  code generated from the SymPy derivation; :mod:`bncheck.check.finite_diff`: finite
  differences and the complex step; :mod:`bncheck.check.baselines`: naive NumPy BNs.
- :mod:`bncheck.check.strategies`: Hypothesis strategies for BN inputs.
- :mod:`bncheck.check.testing` and the pytest plugin: ``assert_batchnorm_correct``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bncheck.check._verify import VerificationReport, verify
    from bncheck.check._verify.results import CheckResult
    from bncheck.check._verify.targets.adapt import Adapted, adapt
    from bncheck.check.testing import assert_batchnorm_correct

__all__ = [
    "Adapted",
    "CheckResult",
    "VerificationReport",
    "adapt",
    "assert_batchnorm_correct",
    "verify",
]

# Loaded on first use: the pytest plugin lives in this package and must not pull the engine
# (or Hypothesis and mpmath) into every pytest run of a user who installed only the BN.
_LAZY = {
    "Adapted": "bncheck.check._verify.targets.adapt",
    "CheckResult": "bncheck.check._verify.results",
    "adapt": "bncheck.check._verify.targets.adapt",
    "VerificationReport": "bncheck.check._verify",
    "verify": "bncheck.check._verify",
    "assert_batchnorm_correct": "bncheck.check.testing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bncheck.check' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
