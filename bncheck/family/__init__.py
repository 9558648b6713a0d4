"""The normalization family: Layer, Group, Instance and RMS normalization, accurate functional
forward and backward (NumPy arrays in and out; needs only NumPy).

- :mod:`bncheck.family.functional`: ``layernorm_forward``/``layernorm_backward``,
  ``groupnorm_*``, ``instancenorm_*``, ``rmsnorm_*``, and their ``NormCache``/``NormGrads``.
- :mod:`bncheck.family.dd`: vectorized double-double arithmetic (error-free transformations),
  shared with verify's double-double truth of large inputs.
- Private: ``_compiled`` (the C kernels, ``_csrc/``), ``_numpy_kernels`` (the NumPy kernels).
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
