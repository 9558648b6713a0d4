"""Flax factories for tests/check/test_verify_framework_forms.py: functions building a linen or
an nnx BatchNorm (both with the two-pass variance: correct)."""

from __future__ import annotations

from flax import linen, nnx


def linen_bn() -> linen.Module:
    """A linen BatchNorm for channels-first data, the mode given at each call."""
    return linen.BatchNorm(axis=1, momentum=0.9, epsilon=1e-5, use_fast_variance=False)


def nnx_bn(num_features: int) -> nnx.Module:
    """An nnx BatchNorm of the given width (channels last, nnx's default)."""
    return nnx.BatchNorm(num_features, use_fast_variance=False, rngs=nnx.Rngs(0))
