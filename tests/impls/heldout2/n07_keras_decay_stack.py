"""Keras-flavoured channels-last batch norm: moving statistics kept as one (2, C) array
(row 0 moving mean, row 1 moving variance), momentum given as a decay (Keras convention:
moving = decay * moving + (1 - decay) * batch, batch variance biased)."""
import numpy as np


class StackedBN:
    def __init__(self, units, decay=0.99, epsilon=1e-3):
        self.decay = decay
        self.epsilon = epsilon
        self.gamma = np.ones(units)
        self.beta = np.zeros(units)
        self.moving = np.stack([np.zeros(units), np.ones(units)])
        self.gamma_grad = None
        self.beta_grad = None
        self._ctx = None

    def call(self, inputs, training=False):
        red = tuple(range(inputs.ndim - 1))
        dt = inputs.dtype
        if training:
            mean = inputs.mean(axis=red)
            var = inputs.var(axis=red)
            self.moving = self.decay * self.moving + (1.0 - self.decay) * np.stack([mean, var]).astype(np.float64)
        else:
            mean, var = self.moving.astype(dt)
        inv = 1.0 / np.sqrt(var + dt.type(self.epsilon))
        xhat = (inputs - mean) * inv
        if training:
            self._ctx = (xhat, inv, red)
        return xhat * self.gamma.astype(dt) + self.beta.astype(dt)

    def backprop(self, grad):
        xhat, inv, red = self._ctx
        m = grad.size // grad.shape[-1]
        self.beta_grad = grad.sum(axis=red)
        self.gamma_grad = (grad * xhat).sum(axis=red)
        return (self.gamma.astype(grad.dtype) * inv / m) * (m * grad - self.beta_grad - xhat * self.gamma_grad)
