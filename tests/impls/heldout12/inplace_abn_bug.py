"""Memory-saving batch norm in the spirit of in-place activated BN: the forward writes the
normalized result into the input buffer (no extra activation copy) and the backward recovers
x_hat from the stored output, x_hat = (y - beta) / gamma.  `forward(x, training=True)`;
running statistics as PyTorch (momentum 0.1, unbiased variance).

The input array passed by the caller is overwritten."""

import numpy as np


class InPlaceBatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x, training=True):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if training:
            axes = (0,) + tuple(range(2, x.ndim))
            m = x.size // x.shape[1]
            mu = x.mean(axis=axes, dtype=np.float64)
            var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        x -= mu.reshape(shape).astype(x.dtype)
        x *= (inv * self.weight).reshape(shape).astype(x.dtype)
        x += self.bias.reshape(shape).astype(x.dtype)
        if training:
            self.saved = (x, inv, axes, m)
        return x

    def backward(self, dy):
        y, inv, axes, m = self.saved
        shape = (1, -1) + (1,) * (y.ndim - 2)
        xhat = (y - self.bias.reshape(shape)) / self.weight.reshape(shape)
        self.grad_bias = dy.sum(axis=axes, dtype=np.float64)
        self.grad_weight = (dy * xhat).sum(axis=axes)
        dx = (self.weight * inv).reshape(shape) * (
            dy - (self.grad_bias / m).reshape(shape) - xhat * (self.grad_weight / m).reshape(shape)
        )
        return dx.astype(dy.dtype)
