"""A layer that leaves its parameters' gradients in attributes ``self.dgamma`` and
``self.dbeta`` (backward returns dx only), read by its own ``update(lr)``:
``gamma -= lr * dgamma; beta -= lr * dbeta``.

WRONG (one mistake): the two attributes hold each other's values: the variable named
``dgamma`` is Σdy (the gradient of beta) and ``dbeta`` is Σdy·x_hat (the gradient of gamma),
so ``update`` moves gamma along beta's gradient and the other way round. dx, forward, running
statistics (PyTorch-style: momentum 0.1 on the batch, unbiased) and eval are right.
``phase`` = "train" | "test" switches the mode.
"""

import numpy as np


class BatchNorm:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.dgamma = np.zeros(channels)
        self.dbeta = np.zeros(channels)
        self.running_mean = np.zeros(channels)
        self.running_var = np.ones(channels)
        self.phase = "train"

    def forward(self, x):
        x64 = x.astype(np.float64)
        axis = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.phase == "train":
            mean = x64.mean(axis=axis)
            var = x64.var(axis=axis)
            m = x64.size // x64.shape[1]
            mom = self.momentum
            self.running_mean = (1 - mom) * self.running_mean + mom * mean
            self.running_var = (1 - mom) * self.running_var + mom * var * (m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        istd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x64 - mean.reshape(shape)) * istd.reshape(shape)
        self._cache = (self.phase, xhat, istd, axis, shape, x.dtype)
        return (self.gamma.reshape(shape) * xhat + self.beta.reshape(shape)).astype(x.dtype)

    def backward(self, dy):
        phase, xhat, istd, axis, shape, dtype = self._cache
        dy = dy.astype(np.float64)
        sum_dy = dy.sum(axis=axis)
        sum_dy_xhat = (dy * xhat).sum(axis=axis)
        # gradients of the parameters, kept for update()
        self.dgamma = sum_dy.astype(dtype)
        self.dbeta = sum_dy_xhat.astype(dtype)
        k = (self.gamma * istd).reshape(shape)
        if phase == "train":
            m = dy.size // dy.shape[1]
            dx = k * (dy - (sum_dy / m).reshape(shape) - xhat * (sum_dy_xhat / m).reshape(shape))
        else:
            dx = k * dy
        return dx.astype(dtype)

    def update(self, lr):
        self.gamma -= lr * self.dgamma
        self.beta -= lr * self.dbeta
