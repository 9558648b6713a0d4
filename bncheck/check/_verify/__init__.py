"""Verify any BN implementation: ``bncheck.verify(target)`` and ``bncheck verify TARGET``.

The engine is :mod:`bncheck.check._verify.engine`. This package loads it on the first use of
one of its names, not on import: a target process imports only the package's
:mod:`~bncheck.check._verify.process` and :mod:`~bncheck.check._verify.targets`, and so starts
without the checks, Hypothesis and mpmath (0.24 s of every target process's start, measured
with ``python -X importtime``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bncheck.check._verify.engine import (
        CONVENTION_CHOICES as CONVENTION_CHOICES,
    )
    from bncheck.check._verify.engine import (
        MAPPING_ROLES as MAPPING_ROLES,
    )
    from bncheck.check._verify.engine import (
        Adapted as Adapted,
    )
    from bncheck.check._verify.engine import (
        CheckResult as CheckResult,
    )
    from bncheck.check._verify.engine import (
        LoadError as LoadError,
    )
    from bncheck.check._verify.engine import (
        Options as Options,
    )
    from bncheck.check._verify.engine import (
        TargetImportFailed as TargetImportFailed,
    )
    from bncheck.check._verify.engine import (
        TargetLoadFailed as TargetLoadFailed,
    )
    from bncheck.check._verify.engine import (
        VerificationReport as VerificationReport,
    )
    from bncheck.check._verify.engine import (
        adapt as adapt,
    )
    from bncheck.check._verify.engine import (
        verify as verify,
    )

__all__ = [
    "Adapted",
    "CheckResult",
    "LoadError",
    "Options",
    "TargetImportFailed",
    "TargetLoadFailed",
    "VerificationReport",
    "adapt",
    "verify",
]

#: the engine's names this package gives (loading the engine at the first use of one)
_ENGINE_NAMES = frozenset([*__all__, "CONVENTION_CHOICES", "MAPPING_ROLES"])


def __getattr__(name: str) -> Any:
    if name not in _ENGINE_NAMES:  # a submodule, or nothing: never load the engine for it
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("bncheck.check._verify.engine"), name)
