"""Reference implementations: the exact (mpmath) truth and the code generated from SymPy."""

from __future__ import annotations

from bncheck.reference.exact import ExactBatchNorm, exact_batchnorm, exact_inference

__all__ = ["ExactBatchNorm", "exact_batchnorm", "exact_inference"]
