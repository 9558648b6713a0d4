"""A conv-net BN from a NumPy CNN project: ``BatchNorm2d(num_features, eps=1e-5, momentum=0.1)``
for (N, C, H, W) input only, every per-channel array kept broadcastable as (1, C, 1, 1)
(``gamma``, ``beta``, ``running_mean``, ``running_var`` and the gradients), statistics with
``keepdims=True``, ``forward(x, training=True)``, ``backward(dout)`` returning dx with
``self.d_gamma`` / ``self.d_beta``.

Correct maths (an interface deviation: per-channel arrays of shape (1, C, 1, 1), not (C,)).
Running statistics as torch: (1-momentum)*old + momentum*batch with the unbiased variance,
momentum 0.1. 4-D input only.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


class BatchNorm2d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        shape = (1, num_features, 1, 1)
        self.gamma = np.ones(shape)
        self.beta = np.zeros(shape)
        self.running_mean = np.zeros(shape)
        self.running_var = np.ones(shape)
        self.d_gamma = np.zeros(shape)
        self.d_beta = np.zeros(shape)
        self.cache = None

    def forward(self, x, training=True):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if training:
            N, C, H, W = x.shape
            m = N * H * W
            mean = x.mean(axis=(0, 2, 3), keepdims=True)
            var = x.var(axis=(0, 2, 3), keepdims=True)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var * m / (m - 1)
            )
        else:
            mean, var = self.running_mean, self.running_var
        std = np.sqrt(var + self.eps)
        x_hat = (x - mean) / std
        if training:
            self.cache = (x_hat, std)
        return self.gamma * x_hat + self.beta

    def backward(self, dout):
        x_hat, std = self.cache
        N, C, H, W = dout.shape
        m = N * H * W
        self.d_beta = dout.sum(axis=(0, 2, 3), keepdims=True)
        self.d_gamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
        return self.gamma / (m * std) * (m * dout - self.d_beta - x_hat * self.d_gamma)
