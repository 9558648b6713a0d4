"""Batch normalization in a small framework with a base Layer class: every layer has
`params` and `grads` dicts, `__call__(x, training=False)` dispatches to `forward`, and
`backward(dout)` returns the input gradient after filling `grads`.  4-D inputs (N, C, H, W)
are flattened to (N*H*W, C) so the dense code can be reused.
"""
import numpy as np


class Layer:
    trainable = True

    def __init__(self):
        self.params = {}
        self.grads = {}

    def __call__(self, x, training=False):
        return self.forward(x, training)

    def forward(self, x, training):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError


class BatchNorm(Layer):
    def __init__(self, num_channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.C = num_channels
        self.eps = eps
        self.momentum = momentum
        self.params["gamma"] = np.ones(num_channels)
        self.params["beta"] = np.zeros(num_channels)
        self.running_mean = np.zeros(num_channels)
        self.running_var = np.ones(num_channels)

    def _flat(self, a):
        if a.ndim == 4:
            return a.transpose(0, 2, 3, 1).reshape(-1, self.C)
        return a

    def _unflat(self, a, shape):
        if len(shape) == 4:
            n, c, h, w = shape
            return a.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return a

    def forward(self, x, training):
        if x.ndim not in (2, 4):
            raise ValueError("BatchNorm takes (N, C) or (N, C, H, W)")
        xf = self._flat(x)
        if training:
            m = xf.shape[0]
            mu = xf.mean(axis=0)
            var = xf.var(axis=0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (m - 1)
        else:
            mu, var = self.running_mean, self.running_var
        self.std = np.sqrt(var + self.eps)
        self.xhat = (xf - mu) / self.std
        out = self.params["gamma"] * self.xhat + self.params["beta"]
        return self._unflat(out, x.shape).astype(x.dtype, copy=False)

    def backward(self, dout):
        C = self.C
        dflat = self._flat(dout)
        m = dflat.shape[0]
        self.grads["beta"] = dflat.sum(axis=0)
        self.grads["gamma"] = np.sum(dout.reshape(-1, C) * self.xhat, axis=0)
        dxhat = dflat * self.params["gamma"]
        dx = (m * dxhat - dxhat.sum(axis=0) - self.xhat * (dxhat * self.xhat).sum(axis=0)) / (m * self.std)
        return self._unflat(dx, dout.shape).astype(dout.dtype, copy=False)
