"""Keras LayerNorm written for a seq2seq toolkit before the framework had one."""

import keras
from keras import ops


class LayerNorm(keras.layers.Layer):
    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        depth = input_shape[-1]
        self.scale = self.add_weight(name="gamma", shape=(depth,), initializer="ones")
        self.shift = self.add_weight(name="beta", shape=(depth,), initializer="zeros")

    def call(self, x):
        mean = ops.mean(x, axis=-1, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=-1, keepdims=True))
        return self.scale * (x - mean) / (std + self.epsilon) + self.shift
