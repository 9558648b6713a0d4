"""A hand-written Keras 3 layer for channels-first input (axis 1), built in float64 by its
factory: `hand_bn(C)` returns `ChannelsFirstBN(dtype="float64")` already built for C channels.
add_weight for gamma/beta and the moving pair, statistics by keras.ops.moments,
call(x, training=None) (None means inference, as in Keras). Keras convention: momentum 0.99 on
the old value, biased moving variance, epsilon 1e-3. Correct (float32 input is computed and
returned in the layer's float64 dtype).
"""

import keras
from keras import ops


class ChannelsFirstBN(keras.layers.Layer):
    def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        c = (input_shape[1],)
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=c, initializer="zeros", trainable=False, name="moving_mean"
        )
        self.moving_variance = self.add_weight(
            shape=c, initializer="ones", trainable=False, name="moving_variance"
        )

    def call(self, inputs, training=None):
        rank = len(inputs.shape)
        axes = [0, *list(range(2, rank))]
        bshape = [1, -1] + [1] * (rank - 2)
        if training:
            mean, var = ops.moments(inputs, axes=axes)
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
            self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * var)
        else:
            mean, var = self.moving_mean, self.moving_variance
        inv = ops.rsqrt(ops.reshape(var, bshape) + self.epsilon)
        y = (inputs - ops.reshape(mean, bshape)) * inv
        return y * ops.reshape(self.gamma, bshape) + ops.reshape(self.beta, bshape)


def hand_bn(channels):
    layer = ChannelsFirstBN(dtype="float64")
    layer.build((None, channels))
    return layer
