"""A ``BatchNormLayer`` with ``train()``/``eval()`` and PyTorch-convention running statistics
(momentum 0.1, unbiased) that it updates in training mode.

PLANTED MISTAKE: the forward always normalises with the batch statistics; the running
statistics are kept up to date but never used, so eval mode silently uses the batch's mean
and variance (eval only stops the running update). Training mode and backward are right.
"""

import numpy as np


class BatchNormLayer:
    def __init__(self, n_channels, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = np.ones(n_channels)
        self.beta = np.zeros(n_channels)
        self.running_mean = np.zeros(n_channels)
        self.running_var = np.ones(n_channels)

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        if self.training:
            n = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (
                n - 1
            )
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mean.reshape(shp)) * inv.reshape(shp)
        self.cache = (xh, inv, axes, shp)
        return (self.gamma.reshape(shp) * xh + self.beta.reshape(shp)).astype(x.dtype)

    def backward(self, dout):
        xh, inv, axes, shp = self.cache
        self.dgamma = (dout * xh).sum(axis=axes)
        self.dbeta = dout.sum(axis=axes)
        d = dout * self.gamma.reshape(shp)
        dx = inv.reshape(shp) * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dout.dtype)
