"""A torch-like layer that claims torch's defaults, ``BatchNorm1d(num_features, eps=1e-5,
momentum=0.1)``, ``forward(x, train=True)``, ``backward(dy)`` returning ``(dx, dgamma,
dbeta)``, and stores the biased batch variance (the one it normalized with) in
``running_var``.

WRONG (one mistake): the running variance is biased where the torch convention stores the
unbiased m/(m-1) correction. Momentum meaning (torch), training and eval are right. (N, C)
input.
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
        self.x_hat = None
        self.inv_std = None

    def forward(self, x, train=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if train:
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            self.x_hat = (x - mean) * self.inv_std
            return self.gamma * self.x_hat + self.beta
        return (
            self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        )

    def backward(self, dy):
        n = dy.shape[0]
        dbeta = dy.sum(axis=0)
        dgamma = (dy * self.x_hat).sum(axis=0)
        dx = self.gamma * self.inv_std / n * (n * dy - dbeta - self.x_hat * dgamma)
        return dx, dgamma, dbeta
