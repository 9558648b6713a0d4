"""A from-scratch torch-like module: ``BatchNorm(num_features, eps=1e-5, momentum=0.1)`` with
``weight`` / ``bias``, buffers ``running_mean`` / ``running_var`` / ``num_batches_tracked``,
``train()`` / ``eval()`` setting a ``training`` attribute, ``forward(x)`` (and ``__call__``),
and ``backward(grad_output)`` returning dx with ``self.dweight`` / ``self.dbias``.

Correct, for (N, C) and (N, C, H, W). Running statistics as torch: new = (1-momentum)*old +
momentum*batch with the unbiased batch variance, momentum 0.1.
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
        self.num_batches_tracked = 0
        self.training = True
        self.dweight = None
        self.dbias = None
        self._saved = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.running_mean.dtype != x.dtype:  # buffers follow the input's precision
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)

        if self.training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var * n / (n - 1)
            )
            self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var

        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
        if self.training:
            self._saved = (x_hat, inv_std, axes, shape)
        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)

    def backward(self, grad_output):
        x_hat, inv_std, axes, shape = self._saved
        n = x_hat.size // x_hat.shape[1]
        self.dbias = grad_output.sum(axis=axes)
        self.dweight = (grad_output * x_hat).sum(axis=axes)
        scale = (self.weight * inv_std).reshape(shape) / n
        return scale * (
            n * grad_output - self.dbias.reshape(shape) - x_hat * self.dweight.reshape(shape)
        )
