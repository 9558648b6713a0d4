"""A Keras 3 custom LayerNorm layer over the last axis."""

import keras
from keras import ops


class TokenLayerNorm(keras.layers.Layer):
    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        d = input_shape[-1]
        self.gamma = self.add_weight(shape=(d,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(d,), initializer="zeros", name="beta")

    def call(self, x):
        mu = ops.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = ops.mean(ops.square(xc), axis=-1, keepdims=True)
        return xc * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta
