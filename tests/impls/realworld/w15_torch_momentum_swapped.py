"""A from-scratch torch-like module with torch's defaults, ``BatchNorm(num_features, eps=1e-5,
momentum=0.1)``, ``scale`` / ``bias``, ``train()`` / ``eval()`` and a ``training`` attribute,
``forward(x)``, ``backward(dy)`` returning ``(dx, dscale, dbias)``, which updates its buffers
the cs231n way, ``momentum * running + (1 - momentum) * batch``, while keeping torch's 0.1.

WRONG (one mistake): the momentum meaning swapped (new = 0.1*old + 0.9*batch). It does use the
unbiased batch variance for the running variance, as torch. Training and eval are right.
(N, C) input.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.scale = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._cache = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if self.training:
            n = x.shape[0]
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            unbiased = var * n / (n - 1)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * unbiased
        else:
            mean, var = self.running_mean, self.running_var
        std = np.sqrt(var + self.eps)
        x_hat = (x - mean) / std
        if self.training:
            self._cache = (x_hat, std)
        return self.scale * x_hat + self.bias

    def backward(self, dy):
        x_hat, std = self._cache
        n = dy.shape[0]
        dbias = dy.sum(axis=0)
        dscale = (dy * x_hat).sum(axis=0)
        dx = self.scale / (n * std) * (n * dy - dbias - x_hat * dscale)
        return dx, dscale, dbias
