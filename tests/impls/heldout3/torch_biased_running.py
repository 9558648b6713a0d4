"""A PyTorch-style ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1)`` with
``train()``/``eval()``, ``running_mean``/``running_var`` attributes and a (dx, dgamma, dbeta)
backward; it claims PyTorch's convention.

PLANTED MISTAKE: the running variance is updated with the biased batch variance (divided by
m) instead of the unbiased one (m - 1). Everything else is right.
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
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
        else:
            mean, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mean.reshape(shp)) * inv.reshape(shp)
        self.ctx = (xh, inv, axes, shp)
        return (xh * self.weight.reshape(shp) + self.bias.reshape(shp)).astype(x.dtype)

    def backward(self, dy):
        xh, inv, axes, shp = self.ctx
        dgamma = (dy * xh).sum(axis=axes)
        dbeta = dy.sum(axis=axes)
        d = dy * self.weight.reshape(shp)
        dx = inv.reshape(shp) * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dy.dtype), dgamma, dbeta
