"""A layer class after the cs231n functions, keras defaults: ``BatchNorm(num_features,
eps=1e-3, momentum=0.99)``, ``forward(x, mode="train")`` ("train" / "test"), ``moving_mean`` /
``moving_var``, ``backward(dout)`` returning ``(dx, dgamma, dbeta)``; its test branch returns
the normalized input and forgets the scale and shift.

WRONG (one mistake): eval returns x_hat, dropping gamma and beta. Training and the moving
averages (keras: momentum*moving + (1-momentum)*batch, biased, momentum 0.99) are right.
(N, C) and (N, C, H, W).
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-3, momentum=0.99):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_var = np.ones(num_features)
        self.cache = None

    def forward(self, x, mode="train"):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.moving_mean.dtype != x.dtype:
            self.moving_mean = self.moving_mean.astype(x.dtype)
            self.moving_var = self.moving_var.astype(x.dtype)
        if mode == "train":
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            x_hat = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + self.eps)
            self.cache = (x_hat, np.sqrt(var + self.eps), axes, shape)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mu
            self.moving_var = self.momentum * self.moving_var + (1 - self.momentum) * var
            return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)
        if mode == "test":
            x_hat = (x - self.moving_mean.reshape(shape)) / np.sqrt(
                self.moving_var.reshape(shape) + self.eps
            )
            return x_hat
        raise ValueError(f"Invalid forward batchnorm mode {mode!r}")

    def backward(self, dout):
        x_hat, std, axes, shape = self.cache
        m = dout.size // dout.shape[1]
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * x_hat).sum(axis=axes)
        dx = (self.gamma / (m * std)).reshape(shape) * (
            m * dout - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape)
        )
        return dx, dgamma, dbeta
