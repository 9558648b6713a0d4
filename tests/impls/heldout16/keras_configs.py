"""Keras 3 normalization layers as configured instances."""

import keras

kbn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)

kln = keras.layers.LayerNormalization(epsilon=1e-6)
