"""Keras 3 on the torch backend (KERAS_BACKEND=torch): a subclass with a planted bug."""

import keras


class AlwaysTrainingBN(keras.layers.BatchNormalization):
    """BUG: forces training=True "so that small eval batches are normalized too": inference
    normalizes by the batch and keeps updating moving_mean/moving_variance."""

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=True, mask=mask)
