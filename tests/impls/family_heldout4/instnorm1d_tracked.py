"""InstanceNorm1d for (N, C, L) sequences in NumPy, with a per-channel affine and running
statistics (momentum 0.1, as PyTorch's track_running_stats=True) used in eval mode.

    layer = InstanceNorm1d(C); layer.train() / layer.eval()
    y = layer.forward(x); dx = layer.backward(dy)   # gradients: layer.dweight, layer.dbias
"""

import numpy as np


class InstanceNorm1d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.dweight = self.dbias = None
        self._cache = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"expected 3D input (N, C, L), got {x.ndim}D")
        if self.training:
            mean = x.mean(axis=2, keepdims=True)
            var = x.var(axis=2, keepdims=True)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean.mean(axis=0)[:, 0]
            self.running_var = (1 - m) * self.running_var + m * var.mean(axis=0)[:, 0]
        else:
            mean = self.running_mean[None, :, None]
            var = self.running_var[None, :, None]
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean) * rstd
        self._cache = (xhat, rstd, self.training)
        return xhat * self.weight[None, :, None] + self.bias[None, :, None]

    def backward(self, dout):
        xhat, rstd, training = self._cache
        self.dweight = (dout * xhat).sum(axis=(0, 2))
        self.dbias = dout.sum(axis=(0, 2))
        g = dout * self.weight[None, :, None]
        if not training:
            return g * rstd
        return rstd * (
            g - g.mean(axis=2, keepdims=True) - xhat * (g * xhat).mean(axis=2, keepdims=True)
        )
