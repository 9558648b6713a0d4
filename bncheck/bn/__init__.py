"""The verified Batch Normalization: NumPy arrays in, NumPy arrays out; needs only NumPy.

- :mod:`bncheck.bn.functional`: the train mode, ``batchnorm_forward`` and
  ``batchnorm_backward`` (with their ``BatchNormCache`` and ``BatchNormGrads``), and
  ``kernels()``, which says which kernels run; for arrays of any rank 2 to 5.
- :mod:`bncheck.bn.inference`: the eval mode, ``batchnorm_inference`` and
  ``inference_backward``.
- :mod:`bncheck.bn.layer`: the ``BatchNorm`` layer (train/eval, running statistics,
  state_dict/load_state_dict, save/load).
- :mod:`bncheck.bn.running`: running-statistics conventions (``CONVENTIONS``), their update
  rule and the count-weighted merge of shard statistics.
- Private: ``_compiled`` (the C kernels, ``_csrc/``) and ``_numpy_kernels`` (the NumPy
  fallback); ``_types`` (the cache and gradient types); ``_validation`` (argument checks and
  the one error type); ``_layer_file`` (the layer's ``.npz`` format) and ``_safe_files``
  (regular files only, replaced atomically).
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
