"""A torch-like layer ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1)`` with
``forward(x, training=True)`` and ``backward(dy)`` returning ``(dx, dgamma, dbeta)``, which
reads "torch stores the unbiased variance" as "use ``np.var(x, axis=0, ddof=1)``" and
normalizes with it too (the backward is the exact derivative of that forward, with m - 1).

WRONG (one mistake): the unbiased variance used to normalize in training. The running
statistics (torch: (1-momentum)*old + momentum*unbiased batch variance) and eval are right.
(N, C) input.
"""

import numpy as np


class BatchNorm1d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.cache = None

    def forward(self, x, training=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if training:
            mean = np.mean(x, axis=0)
            var = np.var(x, axis=0, ddof=1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
            self.cache = (x - mean, var)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / np.sqrt(var + self.eps)
        return self.gamma * x_hat + self.beta

    def backward(self, dy):
        xc, var = self.cache
        m = dy.shape[0]
        std_inv = 1.0 / np.sqrt(var + self.eps)
        x_hat = xc * std_inv
        dx_hat = dy * self.gamma
        dvar = np.sum(dx_hat * xc, axis=0) * -0.5 * std_inv**3
        dmu = np.sum(-dx_hat * std_inv, axis=0) + dvar * np.sum(-2.0 * xc, axis=0) / (m - 1)
        dx = dx_hat * std_inv + dvar * 2.0 * xc / (m - 1) + dmu / m
        return dx, np.sum(dy * x_hat, axis=0), np.sum(dy, axis=0)
