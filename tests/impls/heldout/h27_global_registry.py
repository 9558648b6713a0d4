"""Batch normalization in a small framework whose layers keep nothing themselves: every
parameter, running statistic and gradient lives in module-level dictionaries keyed by
"<layer name>/<what>" (e.g. "batchnorm0/gamma"), so an optimiser or a checkpoint writer can
walk them by name.  forward(x, training) / backward(dy) -> dx.  PyTorch convention.
"""
import itertools

import numpy as np

PARAMS = {}
GRADS = {}
STATE = {}

_counter = itertools.count()


class Layer:
    def __init__(self, name=None):
        self.name = name or f"{type(self).__name__.lower()}{next(_counter)}"

    def key(self, what):
        return f"{self.name}/{what}"


class BatchNorm(Layer):
    def __init__(self, channels, eps=1e-5, momentum=0.1, name=None):
        super().__init__(name)
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        PARAMS[self.key("gamma")] = np.ones(channels)
        PARAMS[self.key("beta")] = np.zeros(channels)
        STATE[self.key("running_mean")] = np.zeros(channels)
        STATE[self.key("running_var")] = np.ones(channels)

    def forward(self, x, training):
        shp = (1, self.channels) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        g = PARAMS[self.key("gamma")].reshape(shp)
        b = PARAMS[self.key("beta")].reshape(shp)
        rm, rv = self.key("running_mean"), self.key("running_var")
        if training:
            m = x.size // self.channels
            mu = x.mean(axis=axes, keepdims=True)
            xc = x - mu
            var = np.mean(xc ** 2, axis=axes, keepdims=True)
            inv = 1.0 / np.sqrt(var + self.eps)
            xhat = xc * inv
            self._bwd = (xhat, inv, axes, shp, m)
            STATE[rm] = (1 - self.momentum) * STATE[rm] + self.momentum * mu.reshape(-1)
            STATE[rv] = (1 - self.momentum) * STATE[rv] + self.momentum * var.reshape(-1) * m / (m - 1)
        else:
            xhat = (x - STATE[rm].reshape(shp)) / np.sqrt(STATE[rv].reshape(shp) + self.eps)
        return (g * xhat + b).astype(x.dtype, copy=False)

    def backward(self, dy):
        xhat, inv, axes, shp, m = self._bwd
        GRADS[self.key("beta")] = dy.sum(axis=axes)
        GRADS[self.key("gamma")] = (dy * xhat).sum(axis=axes)
        g = PARAMS[self.key("gamma")].reshape(shp)
        dxhat = dy * g
        dx = inv / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
        return dx.astype(dy.dtype, copy=False)
