"""Batch normalization with forward(x, is_training).  In inference the running averages
are used for single examples; a whole batch of test data is normalised with its own
statistics, which "adapts to the test distribution".  momentum = share of the old value,
biased variance (cs231n / Keras meaning).
"""
import numpy as np


class BatchNorm1dNP:
    def __init__(self, dim, momentum=0.9, eps=1e-5):
        self.dim = dim
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.running_mean = np.zeros(dim)
        self.running_var = np.ones(dim)

    def _stats(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        return x.mean(axis=axes), x.var(axis=axes), axes

    def forward(self, x, is_training):
        shp = (1, self.dim) + (1,) * (x.ndim - 2)
        if is_training:
            mean, var, axes = self._stats(x)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        elif x.shape[0] > 1:
            # a batch of test data: normalise with its own statistics
            mean, var, axes = self._stats(x)
        else:
            mean, var, axes = self.running_mean, self.running_var, None
        std = np.sqrt(var + self.eps)
        xhat = (x - mean.reshape(shp)) / std.reshape(shp)
        if is_training:
            self.cache = (xhat, std, axes, shp)
        return (xhat * self.gamma.reshape(shp) + self.beta.reshape(shp)).astype(x.dtype, copy=False)

    def backward(self, dout):
        xhat, std, axes, shp = self.cache
        m = dout.size // self.dim
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * xhat).sum(axis=axes)
        dxhat = dout * self.gamma.reshape(shp)
        dx = (dxhat - dxhat.mean(axis=axes, keepdims=True)
              - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)) / std.reshape(shp)
        return dx.astype(dout.dtype, copy=False), dgamma, dbeta
