"""bncheck: verify Batch Normalization.

A vectorized, accurate NumPy Batch Normalization with running statistics, the reference that
other implementations are checked against.
"""

from __future__ import annotations

from bncheck._checks import BatchNormError
from bncheck.batchnorm import (
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)
from bncheck.layer import BatchNorm
from bncheck.running import CONVENTIONS
from bncheck.verify import VerificationReport, verify  # the function shadows the subpackage

__version__ = "0.1.0"

__all__ = [
    "CONVENTIONS",
    "BatchNorm",
    "BatchNormCache",
    "BatchNormError",
    "BatchNormGrads",
    "VerificationReport",
    "__version__",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "verify",
]
