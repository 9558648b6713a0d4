"""A from-scratch layer with TensorFlow's names: ``BatchNorm(num_features, eps=1e-3,
momentum=0.99)``, ``forward(x, train=True)``, parameters ``scale`` / ``offset`` (as in
``tf.nn.batch_normalization``), ``moving_mean`` / ``moving_var``, ``backward(dy)`` returning
``(dx, dscale, doffset)``.

Correct. Moving averages as keras: momentum*moving + (1-momentum)*batch with the biased batch
variance, momentum 0.99. (N, D) input.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-3, momentum=0.99):
        self.eps = eps
        self.momentum = momentum
        self.scale = np.ones(num_features)
        self.offset = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_var = np.ones(num_features)
        self._x_norm = None
        self._inv_std = None

    def forward(self, x, train=True):
        if self.moving_mean.dtype != x.dtype:
            self.moving_mean = self.moving_mean.astype(x.dtype)
            self.moving_var = self.moving_var.astype(x.dtype)
        if train:
            batch_mean = np.mean(x, axis=0)
            batch_var = np.var(x, axis=0)
            decay = self.momentum
            self.moving_mean = self.moving_mean * decay + batch_mean * (1 - decay)
            self.moving_var = self.moving_var * decay + batch_var * (1 - decay)
            self._inv_std = 1.0 / np.sqrt(batch_var + self.eps)
            self._x_norm = (x - batch_mean) * self._inv_std
            return self.scale * self._x_norm + self.offset
        x_norm = (x - self.moving_mean) / np.sqrt(self.moving_var + self.eps)
        return self.scale * x_norm + self.offset

    def backward(self, dy):
        n = dy.shape[0]
        x_norm, inv_std = self._x_norm, self._inv_std
        doffset = np.sum(dy, axis=0)
        dscale = np.sum(dy * x_norm, axis=0)
        dx_norm = dy * self.scale
        dx = (
            inv_std
            / n
            * (n * dx_norm - dx_norm.sum(axis=0) - x_norm * np.sum(dx_norm * x_norm, axis=0))
        )
        return dx, dscale, doffset
