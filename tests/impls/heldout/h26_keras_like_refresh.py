"""A Keras-like BatchNormalization written from scratch: weights built lazily on the first
call, `call(inputs, training=None)`, channels-last (axis=-1), momentum 0.99 = share of the
old moving average, epsilon 1e-3.  The moving averages are refreshed on every call so
they always reflect the latest data.
"""
import numpy as np


class BatchNormalization:
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3):
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.built = False

    def build(self, input_shape):
        dim = input_shape[self.axis]
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.moving_mean = np.zeros(dim)
        self.moving_variance = np.ones(dim)
        self.built = True

    def __call__(self, inputs, training=None):
        if not self.built:
            self.build(inputs.shape)
        return self.call(inputs, training=training)

    def call(self, inputs, training=None):
        nd = inputs.ndim
        ax = self.axis % nd
        red = tuple(i for i in range(nd) if i != ax)
        shape = [1] * nd
        shape[ax] = -1
        mean = inputs.mean(axis=red)
        variance = inputs.var(axis=red)
        self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
        self.moving_variance = self.momentum * self.moving_variance + (1 - self.momentum) * variance
        if not training:
            mean, variance = self.moving_mean, self.moving_variance
        inv = 1.0 / np.sqrt(variance + self.epsilon)
        xn = (inputs - mean.reshape(shape)) * inv.reshape(shape)
        self._saved = (xn, inv.reshape(shape), red)
        return (xn * self.gamma.reshape(shape) + self.beta.reshape(shape)).astype(inputs.dtype, copy=False)

    def backward(self, grad):
        xn, inv, red = self._saved
        m = grad.size // self.gamma.size
        shape = inv.shape
        self.beta_grad = grad.sum(axis=red)
        self.gamma_grad = (grad * xn).sum(axis=red)
        dx = self.gamma.reshape(shape) * inv * (
            grad - self.beta_grad.reshape(shape) / m - xn * self.gamma_grad.reshape(shape) / m)
        return dx.astype(grad.dtype, copy=False)
