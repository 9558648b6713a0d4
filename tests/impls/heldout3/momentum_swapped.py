"""A layer that documents PyTorch's momentum (``momentum=0.1``: the weight of the new batch)
with an unbiased running variance, ``train()``/``eval()`` and ``__call__``.

PLANTED MISTAKE: the update uses the Keras meaning with PyTorch's number,
running = momentum * running + (1 - momentum) * batch, i.e. the new batch gets weight 0.9.
Everything else is right.
"""

import numpy as np


class BN:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        axes = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            n = x.size // x.shape[1]
            p = self.momentum
            self.running_mean = p * self.running_mean + (1 - p) * mu
            self.running_var = p * self.running_var + (1 - p) * var * n / (n - 1)
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mu.reshape(shp)) * inv.reshape(shp)
        self._bw = (xh, inv, axes, shp)
        return (self.gamma.reshape(shp) * xh + self.beta.reshape(shp)).astype(x.dtype)

    def backward(self, dy):
        xh, inv, axes, shp = self._bw
        self.dgamma = (dy * xh).sum(axis=axes)
        self.dbeta = dy.sum(axis=axes)
        d = dy * self.gamma.reshape(shp)
        dx = inv.reshape(shp) * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dy.dtype)
