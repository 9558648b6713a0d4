"""Keras 3 factories for tests/check/test_verify_framework_forms.py: functions building
keras.layers.BatchNormalization, as a user's model code does (both correct in float32)."""

from __future__ import annotations

import keras


def channels_last(num_features: int) -> keras.layers.Layer:
    """Keras' default channel axis (the last) with PyTorch's momentum and eps, ported."""
    del num_features  # Keras infers it when the layer is built
    return keras.layers.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-5)


def default_bn() -> keras.layers.Layer:
    """A factory taking no argument: channels first, Keras' own momentum and eps."""
    return keras.layers.BatchNormalization(axis=1)
