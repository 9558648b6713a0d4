"""bncheck: verify Batch Normalization.

Two products in one package:

- :mod:`bncheck.bn`: an accurate, vectorized NumPy Batch Normalization with running statistics
  (needs only NumPy). Its functions and the layer are re-exported here.
- :mod:`bncheck.family`: Layer, Group, Instance and RMS normalization, accurate functional
  forward and backward (needs only NumPy), re-exported here.
- :mod:`bncheck.check`: the toolkit that checks any BN against the generated reference, finite
  differences and an mpmath truth (extra ``[verify]``); ``bncheck.verify`` and
  ``bncheck.adapt`` are loaded from it on first use.

Also :mod:`bncheck.exceptions`, :mod:`bncheck.report` (extra ``[report]``),
:mod:`bncheck.derivations` (extra ``[derive]``) and the command line, :mod:`bncheck.cli`.

Examples
--------
>>> import numpy as np
>>> import bncheck
>>> x = np.random.default_rng(0).standard_normal((8, 3))
>>> y, cache = bncheck.batchnorm_forward(x, np.ones(3), np.zeros(3))
>>> dx, dgamma, dbeta = bncheck.batchnorm_backward(np.ones_like(y), cache)
>>> y.shape, dx.shape, dgamma.shape
((8, 3), (8, 3), (3,))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bncheck.bn import (
    CONVENTIONS,
    BatchNorm,
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    inference_backward,
)
from bncheck.exceptions import BatchNormError
from bncheck.family import (
    NormCache,
    NormGrads,
    groupnorm_backward,
    groupnorm_forward,
    instancenorm_backward,
    instancenorm_forward,
    layernorm_backward,
    layernorm_forward,
    rmsnorm_backward,
    rmsnorm_forward,
)

if TYPE_CHECKING:
    from bncheck.check import VerificationReport, adapt, verify

__version__ = "0.1.0"

__all__ = [
    "CONVENTIONS",
    "BatchNorm",
    "BatchNormCache",
    "BatchNormError",
    "BatchNormGrads",
    "NormCache",
    "NormGrads",
    "VerificationReport",
    "__version__",
    "adapt",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "groupnorm_backward",
    "groupnorm_forward",
    "inference_backward",
    "instancenorm_backward",
    "instancenorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "rmsnorm_backward",
    "rmsnorm_forward",
    "verify",
]

#: names loaded from the toolkit on first use, so that ``import bncheck`` needs only NumPy
_FROM_CHECK = ("VerificationReport", "adapt", "verify")


def __getattr__(name: str) -> Any:
    if name in _FROM_CHECK:
        import bncheck.check

        value = getattr(bncheck.check, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bncheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_CHECK))
