"""A from-scratch torch-like module, ``BatchNorm(num_features, eps=1e-5, momentum=0.1)`` with
``weight`` / ``bias``, ``train()`` / ``eval()`` and a ``training`` attribute, ``forward(x)``,
``backward(grad)`` returning dx with ``self.dweight`` / ``self.dbias``; its backward writes
``dvar = ... * var ** -1.5``, forgetting the eps that the forward put inside the root.

WRONG (one mistake): dvar without eps ((var)^-3/2 instead of (var + eps)^-3/2). Forward,
running statistics (torch, unbiased, momentum 0.1) and eval are right. (N, C) and (N, C, H, W).
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.dweight = None
        self.dbias = None
        self._cache = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if self.training:
            m = x.size // x.shape[1]
            mu = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * (
                mu.reshape(-1)
            )
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var.reshape(-1) * m / (m - 1)
            )
            self._cache = (x - mu, var, axes, shape)
        else:
            mu = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        x_hat = (x - mu) / np.sqrt(var + self.eps)
        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)

    def backward(self, grad):
        xc, var, axes, shape = self._cache
        m = xc.size // xc.shape[1]
        std_inv = 1.0 / np.sqrt(var + self.eps)
        x_hat = xc * std_inv
        dx_hat = grad * self.weight.reshape(shape)
        dvar = np.sum(dx_hat * xc, axis=axes, keepdims=True) * -0.5 * var**-1.5
        dmu = np.sum(-dx_hat * std_inv, axis=axes, keepdims=True) + dvar * np.mean(
            -2.0 * xc, axis=axes, keepdims=True
        )
        self.dweight = np.sum(grad * x_hat, axis=axes)
        self.dbias = np.sum(grad, axis=axes)
        return dx_hat * std_inv + dvar * 2.0 * xc / m + dmu / m
