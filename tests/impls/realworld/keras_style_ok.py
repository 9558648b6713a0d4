"""A from-scratch keras-like layer: ``BatchNormalization(momentum=0.99, epsilon=1e-3)``, built on
the first call (``gamma`` / ``beta`` / ``moving_mean`` / ``moving_variance`` are None until then,
sized from the input), called as ``layer(x, training=False)`` (inference by default, as in
keras), ``backward(dy)`` returning dx with ``self.grads = {"gamma": ..., "beta": ...}``.

Correct. Moving averages as keras: moving = momentum*moving + (1-momentum)*batch, biased batch
variance, momentum 0.99. Dense (N, D) input only.
"""

import numpy as np


class BatchNormalization:
    def __init__(self, momentum=0.99, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = None
        self.beta = None
        self.moving_mean = None
        self.moving_variance = None
        self.built = False
        self.grads = {}
        self._cache = None

    def build(self, input_shape, dtype):
        dim = input_shape[-1]
        self.gamma = np.ones(dim, dtype=dtype)
        self.beta = np.zeros(dim, dtype=dtype)
        self.moving_mean = np.zeros(dim, dtype=dtype)
        self.moving_variance = np.ones(dim, dtype=dtype)
        self.built = True

    def __call__(self, inputs, training=False):
        if inputs.ndim != 2:
            raise ValueError(f"expected a 2-D (batch, features) input, got {inputs.ndim}-D")
        if not self.built:
            self.build(inputs.shape, inputs.dtype)

        if training:
            mean = inputs.mean(axis=0)
            variance = inputs.var(axis=0)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
            self.moving_variance = (
                self.momentum * self.moving_variance + (1 - self.momentum) * variance
            )
        else:
            mean, variance = self.moving_mean, self.moving_variance

        inv = 1.0 / np.sqrt(variance + self.epsilon)
        normalized = (inputs - mean) * inv
        if training:
            self._cache = (normalized, inv)
        return self.gamma * normalized + self.beta

    def backward(self, dy):
        normalized, inv = self._cache
        n = dy.shape[0]
        dbeta = dy.sum(axis=0)
        dgamma = (dy * normalized).sum(axis=0)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return self.gamma * inv / n * (n * dy - dbeta - normalized * dgamma)
