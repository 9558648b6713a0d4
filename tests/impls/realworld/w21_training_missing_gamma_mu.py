"""A torch-like layer ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1)`` with ``weight`` /
``bias``, ``forward(x, training=True)`` and ``backward(dy)`` returning ``(dx, dweight, dbias)``,
whose backward takes dx_hat = dy (no weight) and, in the paper's chain, keeps the direct term
and the variance term but drops the mean term.

WRONG (two mistakes): dx lacks the factor gamma AND the path through mu_B. Forward, dweight,
dbias, running statistics (torch, unbiased, momentum 0.1) and eval are right. (N, C) input.
"""

import numpy as np


class BatchNorm1d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self._saved = None

    def forward(self, x, training=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if training:
            n = x.shape[0]
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var * n / (n - 1)
            )
            self._saved = (x - mu, var)
        else:
            mu, var = self.running_mean, self.running_var
        x_hat = (x - mu) / np.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias

    def backward(self, dy):
        xmu, var = self._saved
        n = dy.shape[0]
        istd = 1.0 / np.sqrt(var + self.eps)
        x_hat = xmu * istd
        dx_hat = dy
        dvar = -0.5 * np.sum(dx_hat * xmu, axis=0) * istd**3
        dx = dx_hat * istd + dvar * 2.0 * xmu / n
        return dx, np.sum(dy * x_hat, axis=0), np.sum(dy, axis=0)
