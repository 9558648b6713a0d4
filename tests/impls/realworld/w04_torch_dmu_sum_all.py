"""A torch-like layer ``BatchNorm1d(num_features, eps=1e-5, momentum=0.1)`` with
``forward(x, train=True)`` and ``backward(dy)`` returning ``(dx, dgamma, dbeta)``, whose backward
follows the paper's equations but writes dJ/dmu as ``np.sum(dx_hat * -inv_std)`` without the
``axis``: the sum runs over every channel, not per channel.

WRONG (one mistake): the mean-path term is summed over all channels (only wrong when C > 1).
Running statistics (torch: (1-momentum)*old + momentum*batch, unbiased, momentum 0.1) and eval
are right. (N, C) and (N, C, H, W).
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

    def forward(self, x, train=True):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if train:
            m = x.size // x.shape[1]
            mean = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            self.running_mean = (
                1 - self.momentum
            ) * self.running_mean + self.momentum * mean.reshape(-1)
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var.reshape(-1) * m / (m - 1)
            )
            self.cache = (x, mean, var, axes, shape)
        else:
            mean = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        x_hat = (x - mean) / np.sqrt(var + self.eps)
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)

    def backward(self, dy):
        x, mean, var, axes, shape = self.cache
        m = x.size // x.shape[1]
        xc = x - mean
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = xc * inv_std
        dx_hat = dy * self.gamma.reshape(shape)
        dvar = np.sum(dx_hat * xc, axis=axes, keepdims=True) * -0.5 * inv_std**3
        dmu = np.sum(dx_hat * -inv_std) + dvar * np.mean(-2.0 * xc, axis=axes, keepdims=True)
        dx = dx_hat * inv_std + dvar * 2.0 * xc / m + dmu / m
        dgamma = np.sum(dy * x_hat, axis=axes)
        dbeta = np.sum(dy, axis=axes)
        return dx, dgamma, dbeta
