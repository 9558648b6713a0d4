"""Keras 3 BN layer like keras_bn.py, but the eval branch normalizes with the batch
statistics too (the moving pair is updated in training and never used)."""

import keras
from keras import ops


class KerasBN(keras.layers.Layer):
    def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        c = (input_shape[-1],)
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=c, initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(shape=c, initializer="ones", trainable=False)

    def call(self, x, training=False):
        axes = list(range(len(x.shape) - 1))
        mean = ops.mean(x, axis=axes)
        var = ops.mean(ops.square(x - mean), axis=axes)
        if training:
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1 - m) * mean)
            self.moving_variance.assign(m * self.moving_variance + (1 - m) * var)
        y = (x - mean) * ops.rsqrt(var + self.epsilon)
        return y * self.gamma + self.beta
