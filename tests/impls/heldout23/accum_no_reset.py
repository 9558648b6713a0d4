"""A layer whose backward returns dx and adds the parameters' gradients into
``self.dgamma`` / ``self.dbeta`` (``+=``), which its own ``step(lr)`` reads.

WRONG (one mistake): the gradients accumulate across backward calls and nothing ever resets
them: the layer has no zero_grad()/reset method and ``step`` leaves them as they are, so from
the second training step on the gradients it hands out are the sums over all steps so far.
The first backward is right; dx, forward, running statistics (PyTorch-style: momentum 0.1 on
the batch, unbiased variance) and eval are right. ``train()`` / ``eval()``.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = np.zeros(num_features)
        self.dbeta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        xd = np.asarray(x, dtype=np.float64)
        axes = (0, *range(2, xd.ndim))
        shp = [1, xd.shape[1]] + [1] * (xd.ndim - 2)
        if self.training:
            mu = xd.mean(axis=axes)
            var = xd.var(axis=axes)
            n = xd.size / xd.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (
                n - 1
            )
        else:
            mu, var = self.running_mean, self.running_var
        rs = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - np.reshape(mu, shp)) * np.reshape(rs, shp)
        self._bwd = (self.training, xhat, rs, axes, shp, xd.size / xd.shape[1], x.dtype)
        return (np.reshape(self.gamma, shp) * xhat + np.reshape(self.beta, shp)).astype(x.dtype)

    def backward(self, grad):
        training, xhat, rs, axes, shp, n, dt = self._bwd
        g = np.asarray(grad, dtype=np.float64)
        gb = g.sum(axis=axes)
        gg = (g * xhat).sum(axis=axes)
        self.dgamma += gg
        self.dbeta += gb
        gx = g * np.reshape(self.gamma * rs, shp)
        if training:
            gx = (
                gx
                - np.reshape(self.gamma * rs * gb / n, shp)
                - xhat * np.reshape(self.gamma * rs * gg / n, shp)
            )
        return gx.astype(dt)

    def step(self, lr=0.01):
        self.gamma -= lr * self.dgamma
        self.beta -= lr * self.dbeta
