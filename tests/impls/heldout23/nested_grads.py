"""A course-style layer whose backward returns ``dx, (dbeta, dgamma)``.

The layer keeps its parameters as ``self.params = [beta, gamma]`` and its backward returns the
input gradient beside the parameters' gradients, in the same order as ``self.params``, so a
training loop does ``dx, pgrads = bn.backward(dy)`` and
``for p, g in zip(bn.params, pgrads): p -= lr * g``.

Keras-style running statistics: momentum 0.9 is the weight of the OLD value, the running
variance is the biased batch variance. ``forward(x, mode="train" | "test")``.

CORRECT.
"""

import numpy as np


class BatchNorm:
    def __init__(self, dim, momentum=0.9, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.beta = np.zeros(dim)
        self.gamma = np.ones(dim)
        self.params = [self.beta, self.gamma]
        self.running_mean = np.zeros(dim)
        self.running_var = np.ones(dim)
        self.cache = None

    def forward(self, x, mode="train"):
        orig = x.dtype
        x = x.astype(np.float64)
        ax = (0, *range(2, x.ndim))
        shp = [1] * x.ndim
        shp[1] = -1
        if mode == "train":
            mu = np.mean(x, axis=ax)
            var = np.var(x, axis=ax)
            self.running_mean *= self.momentum
            self.running_mean += (1.0 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1.0 - self.momentum) * var
        elif mode == "test":
            mu, var = self.running_mean, self.running_var
        else:
            raise ValueError(f"unknown mode {mode!r}")
        std = np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(shp)) / std.reshape(shp)
        out = self.gamma.reshape(shp) * xhat + self.beta.reshape(shp)
        self.cache = (mode, xhat, std, shp, orig)
        return out.astype(orig)

    def backward(self, dout):
        mode, xhat, std, shp, orig = self.cache
        dout = dout.astype(np.float64)
        ax = (0, *range(2, dout.ndim))
        dbeta = np.sum(dout, axis=ax)
        dgamma = np.sum(dout * xhat, axis=ax)
        dxhat = dout * self.gamma.reshape(shp)
        if mode == "train":
            dx = (
                dxhat
                - np.mean(dxhat, axis=ax).reshape(shp)
                - xhat * np.mean(dxhat * xhat, axis=ax).reshape(shp)
            ) / std.reshape(shp)
        else:
            dx = dxhat / std.reshape(shp)
        return dx.astype(orig), (dbeta.astype(orig), dgamma.astype(orig))
