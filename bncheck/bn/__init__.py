"""The verified Batch Normalization: NumPy arrays in, NumPy arrays out; needs only NumPy.

- :mod:`bncheck.bn.functional`: ``batchnorm_forward``, ``batchnorm_backward``,
  ``batchnorm_inference`` (and ``inference_backward``), for arrays of any rank 2 to 5.
- :mod:`bncheck.bn.layer`: the ``BatchNorm`` layer (train/eval, running statistics, save/load).
- :mod:`bncheck.bn.running`: running-statistics conventions (``CONVENTIONS``), their update
  rule and the count-weighted merge of shard statistics.
- ``_compiled`` (the C kernels, ``_csrc/``) and ``_numpy_kernels`` (the NumPy fallback):
  private; :func:`bncheck.bn.functional.kernels` says which one runs.
"""

from __future__ import annotations

from bncheck.bn.functional import (
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    kernels,
)
from bncheck.bn.inference import batchnorm_inference, inference_backward
from bncheck.bn.layer import BatchNorm
from bncheck.bn.running import CONVENTIONS, Convention, RunningStats, merge_shards, update_running

__all__ = [
    "CONVENTIONS",
    "BatchNorm",
    "BatchNormCache",
    "BatchNormGrads",
    "Convention",
    "RunningStats",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "inference_backward",
    "kernels",
    "merge_shards",
    "update_running",
]
