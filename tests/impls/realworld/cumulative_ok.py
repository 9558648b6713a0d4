"""A from-scratch torch-like ``BatchNorm1d(num_features, eps=1e-5, momentum=None)``: with
``momentum=None`` the running statistics are the cumulative (simple) average over the batches
seen, as torch does, counted in ``num_batches_tracked``. ``weight`` / ``bias``,
``train()`` / ``eval()`` with a ``training`` attribute, ``forward(x)``, ``backward(dy)`` returning
dx with the gradients in ``self.grads = {"weight": ..., "bias": ...}``.

Correct. Running statistics: cumulative average, unbiased batch variance. (N, C) input.
"""

import numpy as np


class BatchNorm1d:
    def __init__(self, num_features, eps=1e-5, momentum=None):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.training = True
        self.grads = {}
        self._ctx = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if self.training:
            n = x.shape[0]
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            self.num_batches_tracked += 1
            if self.momentum is None:
                factor = 1.0 / self.num_batches_tracked
            else:
                factor = self.momentum
            self.running_mean = (1 - factor) * self.running_mean + factor * mean
            self.running_var = (1 - factor) * self.running_var + factor * var * n / (n - 1)
            inv_std = 1.0 / np.sqrt(var + self.eps)
            x_hat = (x - mean) * inv_std
            self._ctx = (x_hat, inv_std)
        else:
            x_hat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.weight * x_hat + self.bias

    def backward(self, dy):
        x_hat, inv_std = self._ctx
        n = dy.shape[0]
        dbias = dy.sum(axis=0)
        dweight = (dy * x_hat).sum(axis=0)
        self.grads = {"weight": dweight, "bias": dbias}
        return self.weight * inv_std / n * (n * dy - dbias - x_hat * dweight)
