"""The normalization family: Layer, Group, Instance and RMS normalization, accurate functional
forward and backward (NumPy arrays in and out; needs only NumPy).

- :mod:`bncheck.family.functional`: ``layernorm_forward``/``layernorm_backward``,
  ``groupnorm_*``, ``instancenorm_*``, ``rmsnorm_*``, and their ``NormCache``/``NormGrads``.
- Private: ``_compiled`` (the C kernels, ``_csrc/``), ``_numpy_kernels`` (the NumPy kernels),
  ``_dd`` (vectorized double-double arithmetic).
"""

from __future__ import annotations

from bncheck.family.functional import (
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

__all__ = [
    "NormCache",
    "NormGrads",
    "groupnorm_backward",
    "groupnorm_forward",
    "instancenorm_backward",
    "instancenorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "rmsnorm_backward",
    "rmsnorm_forward",
]
