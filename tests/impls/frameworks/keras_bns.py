"""Keras 3 BNs for tests/check/test_verify_frameworks.py: subclasses of
keras.layers.BatchNormalization, each with one mistake (bncheck sets KERAS_BACKEND=jax in the
target process before this file is imported)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class SwappedMomentumBN(keras.layers.BatchNormalization):
    """Keras' BN with the moving statistics updated as momentum·batch + (1 − momentum)·old
    (PyTorch's meaning of momentum in Keras' layer). Named momentum-swapped."""

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not training:
            return super().call(inputs, training=training)
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        mean, var = ops.moments(inputs, axes=axes)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)  # the mistake
        self.moving_variance.assign(self.moving_variance * (1.0 - m) + var * m)
        return ops.batch_normalization(
            inputs,
            mean,
            var,
            axis=self.axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )


class NoVarianceGradientBN(keras.layers.BatchNormalization):
    """Keras' BN with the batch variance behind ops.stop_gradient: dx lacks the path through
    sigma²_B. Named missing-var-path."""

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not training:
            return super().call(inputs, training=training)
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        mean, var = ops.moments(inputs, axes=axes)
        var = ops.stop_gradient(var)  # the mistake
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        return ops.batch_normalization(
            inputs,
            mean,
            var,
            axis=self.axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )


#: Keras' own layer built by a user for channels-first input with PyTorch's eps (unbuilt):
#: correct in float32
channels_first = keras.layers.BatchNormalization(axis=1, epsilon=1e-5)
