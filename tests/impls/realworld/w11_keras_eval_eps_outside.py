"""A from-scratch keras-like layer, ``BatchNormalization(momentum=0.99, epsilon=1e-3)`` built on
the first call, ``layer(x, training=...)``, ``moving_mean`` / ``moving_variance``,
``backward(dy)`` returning dx with ``self.grads``; its inference branch divides by
``np.sqrt(moving_variance) + epsilon``.

WRONG (one mistake): in eval, eps outside the square root. Training (eps inside) and the
moving averages (keras, biased, momentum 0.99) are right. Dense (N, D) input only.
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
        self.grads = {}
        self._cache = None

    def __call__(self, x, training=False):
        if x.ndim != 2:
            raise ValueError("BatchNormalization expects (batch, features) input")
        if self.gamma is None:
            d = x.shape[-1]
            self.gamma = np.ones(d, dtype=x.dtype)
            self.beta = np.zeros(d, dtype=x.dtype)
            self.moving_mean = np.zeros(d, dtype=x.dtype)
            self.moving_variance = np.ones(d, dtype=x.dtype)
        if training:
            mean = np.mean(x, axis=0)
            var = np.var(x, axis=0)
            std = np.sqrt(var + self.epsilon)
            x_norm = (x - mean) / std
            self._cache = (x_norm, std)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
            self.moving_variance = self.momentum * self.moving_variance + (1 - self.momentum) * var
        else:
            x_norm = (x - self.moving_mean) / (np.sqrt(self.moving_variance) + self.epsilon)
        return self.gamma * x_norm + self.beta

    def backward(self, dy):
        x_norm, std = self._cache
        n = dy.shape[0]
        dgamma = np.sum(dy * x_norm, axis=0)
        dbeta = np.sum(dy, axis=0)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return self.gamma / (n * std) * (n * dy - dbeta - x_norm * dgamma)
