"""Channels-last batch normalization for image code that keeps tensors as (N, H, W, C)
(the layout of TensorFlow and of most image-loading pipelines) and (N, C) for dense layers.

The channel is always the last axis; statistics are taken over every other axis.
Running statistics: PyTorch convention (momentum 0.1 = share of the new batch, unbiased).
"""
import numpy as np


class ChannelsLastBatchNorm:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.running_mean = np.zeros(channels)
        self.running_var = np.ones(channels)
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, training=True):
        if x.shape[-1] != self.channels:
            raise ValueError(f"expected {self.channels} channels in the last axis, got {x.shape}")
        if not training:
            y = (x - self.running_mean) / np.sqrt(self.running_var + self.eps) * self.gamma + self.beta
            return y.astype(x.dtype, copy=False)
        red = tuple(range(x.ndim - 1))
        n = x.size // self.channels
        mu = x.mean(axis=red)
        xc = x - mu
        var = (xc ** 2).mean(axis=red)
        std = np.sqrt(var + self.eps)
        xn = xc / std
        self._saved = (xn, std, red, n)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1)
        return (self.gamma * xn + self.beta).astype(x.dtype, copy=False)

    def backward(self, dy):
        xn, std, red, n = self._saved
        self.dbeta = dy.sum(axis=red)
        self.dgamma = (dy * xn).sum(axis=red)
        dx = self.gamma / (n * std) * (n * dy - self.dbeta - xn * self.dgamma)
        return dx.astype(dy.dtype, copy=False)
