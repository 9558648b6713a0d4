"""Keras 3 LayerNormalization over the last two axes of (N, H, W) feature maps, with an
(H, W) elementwise scale and offset, epsilon 1e-6, kept in float64."""

import keras

ln_hw = keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-6, dtype="float64")
