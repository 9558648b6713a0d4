"""Batch norm with `decay` for the running statistics and `num_batches_tracked`; with
decay=None (the default) the running statistics are the cumulative average of all batch
statistics seen so far (PyTorch's momentum=None behaviour), unbiased running variance."""
import numpy as np


class TrackedBatchNorm:
    def __init__(self, num_features, eps=1e-5, decay=None):
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.eps = eps
        self.decay = decay
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            if self.decay is None:
                factor = 1.0 / max(self.num_batches_tracked, 1)
            else:
                factor = 1.0 - self.decay
            self.num_batches_tracked += 1
            self.running_mean = (1 - factor) * self.running_mean + factor * mean
            self.running_var = (1 - factor) * self.running_var + factor * var * n / (n - 1)
        else:
            mean, var = self.running_mean.astype(x.dtype), self.running_var.astype(x.dtype)
        inv = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        xhat = (x - mean.reshape(shp)) * inv.reshape(shp)
        if self.training:
            self._cache = (xhat, inv.reshape(shp), axes, shp)
        return xhat * self.weight.astype(x.dtype).reshape(shp) + self.bias.astype(x.dtype).reshape(shp)

    def backward(self, dy):
        xhat, inv, axes, shp = self._cache
        self.grad_bias = dy.sum(axis=axes)
        self.grad_weight = (dy * xhat).sum(axis=axes)
        g = dy * self.weight.astype(dy.dtype).reshape(shp)
        return inv * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
