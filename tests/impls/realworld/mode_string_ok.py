"""A layer class written after the cs231n functions: ``BatchNorm(num_features, eps=1e-5,
momentum=0.9)``, ``forward(x, mode="train")`` with mode "train" or "test", parameters ``scale`` /
``bias``, ``running_mean`` / ``running_var``, and ``backward(dout)`` returning
``(dx, dscale, dbias)``.

Correct, for (N, C) and (N, C, H, W). Running averages as cs231n: momentum*running +
(1-momentum)*sample with the biased variance (the "keras" meaning), momentum 0.9.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.9):
        self.eps = eps
        self.momentum = momentum
        self.scale = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.cache = None

    def forward(self, x, mode="train"):
        axes = (0, *range(2, x.ndim))
        bshape = [1] * x.ndim
        bshape[1] = -1
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)

        if mode == "train":
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        elif mode == "test":
            mu, var = self.running_mean, self.running_var
        else:
            raise ValueError(f"Invalid forward batchnorm mode {mode!r}")

        std = np.sqrt(var + self.eps).reshape(bshape)
        x_hat = (x - mu.reshape(bshape)) / std
        out = self.scale.reshape(bshape) * x_hat + self.bias.reshape(bshape)
        if mode == "train":
            self.cache = (x_hat, std, axes, bshape)
        return out

    def backward(self, dout):
        x_hat, std, axes, bshape = self.cache
        m = dout.size // dout.shape[1]
        dbias = dout.sum(axis=axes)
        dscale = (dout * x_hat).sum(axis=axes)
        dx_hat = dout * self.scale.reshape(bshape)
        dx = (
            m * dx_hat
            - dx_hat.sum(axis=axes, keepdims=True)
            - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)
        ) / (m * std)
        return dx, dscale, dbias
