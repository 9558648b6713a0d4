"""Batch normalization in a framework whose parameters, state and gradients live in
module-level dicts keyed "<layer>/<name>".  To save memory on large activations the
forward centres its input in place and keeps that buffer for the backward pass.
forward(x, training) / backward(dy) -> dx.  PyTorch convention.
"""
import numpy as np

PARAMS, STATE, GRADS = {}, {}, {}
_seen = {}


class BatchNorm:
    def __init__(self, channels, eps=1e-5, momentum=0.1, name=None):
        if name is None:
            k = _seen.get("bn", 0)
            _seen["bn"] = k + 1
            name = f"bn{k}"
        self.name, self.channels, self.eps, self.momentum = name, channels, eps, momentum
        PARAMS[name + "/gamma"] = np.ones(channels)
        PARAMS[name + "/beta"] = np.zeros(channels)
        STATE[name + "/mean"] = np.zeros(channels)
        STATE[name + "/var"] = np.ones(channels)

    def forward(self, x, training):
        n = self.name
        shp = (1, self.channels) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        if not training:
            xhat = (x - STATE[n + "/mean"].reshape(shp)) / np.sqrt(STATE[n + "/var"].reshape(shp) + self.eps)
        else:
            m = x.size // self.channels
            mu = x.mean(axis=axes, keepdims=True)
            x -= mu                                   # centre in place, no temporary
            var = np.mean(x * x, axis=axes, keepdims=True)
            inv = 1.0 / np.sqrt(var + self.eps)
            xhat = x * inv
            self._cache = (xhat, inv, axes, shp, m)
            STATE[n + "/mean"] = (1 - self.momentum) * STATE[n + "/mean"] + self.momentum * mu.ravel()
            STATE[n + "/var"] = (1 - self.momentum) * STATE[n + "/var"] + self.momentum * var.ravel() * m / (m - 1)
        out = xhat * PARAMS[n + "/gamma"].reshape(shp) + PARAMS[n + "/beta"].reshape(shp)
        return out.astype(x.dtype, copy=False)

    def backward(self, dy):
        xhat, inv, axes, shp, m = self._cache
        n = self.name
        GRADS[n + "/beta"] = dy.sum(axis=axes)
        GRADS[n + "/gamma"] = (dy * xhat).sum(axis=axes)
        g = PARAMS[n + "/gamma"].reshape(shp)
        dx = g * inv / m * (m * dy - GRADS[n + "/beta"].reshape(shp) - xhat * GRADS[n + "/gamma"].reshape(shp))
        return dx.astype(dy.dtype, copy=False)
