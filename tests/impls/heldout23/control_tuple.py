"""Control: a hand-written layer whose backward returns (dx, dgamma, dbeta).

PyTorch-style running statistics: momentum 0.1 is the weight of the batch, the running
variance is the unbiased batch variance. ``train()`` / ``eval()`` switch the mode.
Arithmetic in float64, results cast back to the input dtype.

CORRECT.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._saved = None

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    @staticmethod
    def _reduce_axes(x):
        return (0, *range(2, x.ndim))

    @staticmethod
    def _per_channel(v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        dtype = x.dtype
        x64 = np.asarray(x, dtype=np.float64)
        axes = self._reduce_axes(x64)
        if self.training:
            mu = x64.mean(axis=axes)
            var = x64.var(axis=axes)
            m = x64.size // x64.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
                var * m / (m - 1)
            )
        else:
            mu = self.running_mean
            var = self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x64 - self._per_channel(mu, x64.ndim)) * self._per_channel(inv_std, x64.ndim)
        y = self._per_channel(self.gamma, x64.ndim) * x_hat + self._per_channel(self.beta, x64.ndim)
        self._saved = (x_hat, inv_std, self.gamma.copy(), self.training, dtype)
        return y.astype(dtype)

    __call__ = forward

    def backward(self, dy):
        x_hat, inv_std, gamma, was_training, dtype = self._saved
        g = np.asarray(dy, dtype=np.float64)
        axes = self._reduce_axes(g)
        nd = g.ndim
        gbeta = g.sum(axis=axes)
        ggamma = (g * x_hat).sum(axis=axes)
        scale = self._per_channel(gamma * inv_std, nd)
        if was_training:
            m = g.size // g.shape[1]
            gx = scale * (
                g - self._per_channel(gbeta / m, nd) - x_hat * self._per_channel(ggamma / m, nd)
            )
        else:
            gx = scale * g
        return gx.astype(dtype), ggamma.astype(dtype), gbeta.astype(dtype)
