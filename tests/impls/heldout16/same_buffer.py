"""Layer that writes every output into one buffer it owns and returns that buffer."""

import numpy as np


class ReuseBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._out = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def _buffer(self, x):
        if self._out is None or self._out.shape != x.shape or self._out.dtype != x.dtype:
            self._out = np.empty(x.shape, x.dtype)
        return self._out

    def forward(self, x):
        red = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mu = x.mean(axis=red, dtype=np.float64)
            var = ((x - mu.reshape(shp)) ** 2).mean(axis=red, dtype=np.float64)
            m = x.size // x.shape[1]
            a = self.momentum
            self.running_mean = (1 - a) * self.running_mean + a * mu
            self.running_var = (1 - a) * self.running_var + a * var * m / (m - 1)
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(shp)) * inv.reshape(shp)
        self._cache = (xhat, inv.reshape(shp), m if self.training else None)
        out = self._buffer(x)
        out[...] = xhat * self.weight.reshape(shp) + self.bias.reshape(shp)
        return out

    __call__ = forward

    def backward(self, dy):
        xhat, inv, m = self._cache
        red = (0, *range(2, dy.ndim))
        shp = (1, -1) + (1,) * (dy.ndim - 2)
        gb = dy.sum(axis=red, dtype=np.float64)
        gw = (dy * xhat).sum(axis=red, dtype=np.float64)
        self.grad_bias, self.grad_weight = gb.astype(dy.dtype), gw.astype(dy.dtype)
        dxhat_scale = self.weight.reshape(shp) * inv
        dx = dxhat_scale * (dy - (gb.reshape(shp) + xhat * gw.reshape(shp)) / m)
        return dx.astype(dy.dtype)
