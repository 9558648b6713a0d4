"""A from-scratch keras-like layer, ``BatchNormalization(momentum=0.99, epsilon=1e-3)`` built on
the first call, ``layer(x, training=...)``, ``moving_mean`` / ``moving_variance``,
``backward(dy)`` returning dx with ``self.grads``; the moving-average update sits after the
if/else, so it also runs at inference (after the output has been computed).

WRONG (one mistake): eval mode updates the moving statistics. Training, the moving-average
formula (keras, biased, momentum 0.99) and the eval output itself are right. (N, D) input.
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

        batch_mean = x.mean(axis=0)
        batch_var = x.var(axis=0)
        if training:
            x_norm = (x - batch_mean) / np.sqrt(batch_var + self.epsilon)
            self._cache = (x_norm, np.sqrt(batch_var + self.epsilon))
        else:
            x_norm = (x - self.moving_mean) / np.sqrt(self.moving_variance + self.epsilon)
        out = self.gamma * x_norm + self.beta

        # update the moving averages
        self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * batch_mean
        self.moving_variance = (
            self.momentum * self.moving_variance + (1 - self.momentum) * batch_var
        )
        return out

    def backward(self, dy):
        x_norm, std = self._cache
        n = dy.shape[0]
        dgamma = np.sum(dy * x_norm, axis=0)
        dbeta = np.sum(dy, axis=0)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return self.gamma / (n * std) * (n * dy - dbeta - x_norm * dgamma)
