"""A ``BatchNormalization`` layer with a ``training`` attribute that uses its running
statistics in eval mode (PyTorch convention: momentum 0.1, unbiased).

PLANTED MISTAKE: the running update is computed into local names and never written back to
``self.running_mean``/``self.running_var``, so the running statistics stay at their initial
0 and 1 forever; eval mode then computes gamma * x / sqrt(1 + eps) + beta. Training mode and
backward are right.
"""

import numpy as np


class BatchNormalization:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def __call__(self, x):
        axes = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        running_mean, running_var = self.running_mean, self.running_var
        if self.training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            n = x.size // x.shape[1]
            running_mean = (1 - self.momentum) * running_mean + self.momentum * mean
            running_var = (1 - self.momentum) * running_var + self.momentum * var * n / (n - 1)
        else:
            mean, var = running_mean, running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mean.reshape(shp)) * inv.reshape(shp)
        self.saved = (xh, inv, axes, shp)
        return (self.weight.reshape(shp) * xh + self.bias.reshape(shp)).astype(x.dtype)

    def backward(self, dy):
        xh, inv, axes, shp = self.saved
        self.weight_grad = (dy * xh).sum(axis=axes)
        self.bias_grad = dy.sum(axis=axes)
        d = dy * self.weight.reshape(shp)
        dx = inv.reshape(shp) * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dy.dtype)
