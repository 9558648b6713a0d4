"""A factory for keras.layers.BatchNormalization (Keras 3, JAX backend) for channels-first
data with the momentum/epsilon a user ported from PyTorch (0.9 keep, 1e-5). Correct use of
the framework layer.
"""

import keras


def make_bn(num_features):
    del num_features  # Keras infers it on build
    return keras.layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5)
