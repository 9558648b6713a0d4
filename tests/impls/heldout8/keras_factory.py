"""A factory returning Keras 3's BatchNormalization with a non-default momentum and epsilon."""

import keras


def make_bn(channels):
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-4)
