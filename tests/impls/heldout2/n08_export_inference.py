"""Training-only batch norm layer; inference is a separate folded layer made by .export()."""
import numpy as np


class InferenceBN:
    """y = x * scale + shift, per channel (axis 1)."""

    def __init__(self, scale, shift):
        self.scale = scale
        self.shift = shift

    def forward(self, x):
        shp = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.scale.reshape(shp).astype(x.dtype) + self.shift.reshape(shp).astype(x.dtype)


class TrainBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.weight_grad = np.zeros(num_features)
        self.bias_grad = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        n = x.size // x.shape[1]
        mu = x.mean(axis=axes)
        xc = x - mu.reshape(shp)
        var = np.mean(xc ** 2, axis=axes)
        std = np.sqrt(var + self.eps)
        xhat = xc / std.reshape(shp)
        self.running_mean += self.momentum * (mu - self.running_mean)
        self.running_var += self.momentum * (var * n / (n - 1) - self.running_var)
        self._saved = (xhat, std, axes, shp, n)
        return xhat * self.weight.reshape(shp).astype(x.dtype) + self.bias.reshape(shp).astype(x.dtype)

    def backward(self, dy):
        xhat, std, axes, shp, n = self._saved
        self.bias_grad = dy.sum(axis=axes)
        self.weight_grad = (dy * xhat).sum(axis=axes)
        dxhat = dy * self.weight.reshape(shp).astype(dy.dtype)
        return (dxhat - dxhat.mean(axis=axes, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)) / std.reshape(shp)

    def export(self):
        scale = self.weight / np.sqrt(self.running_var + self.eps)
        return InferenceBN(scale, self.bias - self.running_mean * scale)
