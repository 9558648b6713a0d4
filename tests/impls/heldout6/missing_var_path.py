"""Batch norm as a callable with a `vjp` method. BUG: the backward drops the path through the
batch variance (the x_hat * mean(dy * x_hat) term), as if sigma were a constant."""

import numpy as np


class CallableBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.run_mean = np.zeros(num_features)
        self.run_var = np.ones(num_features)
        self.eps, self.momentum = eps, momentum

    def __call__(self, x, train=True):
        ax = (0, *range(2, x.ndim))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        xf = x.astype(np.float64)
        if train:
            n = xf.size // xf.shape[1]
            mu, var = xf.mean(axis=ax), xf.var(axis=ax)
            self.run_mean = (1 - self.momentum) * self.run_mean + self.momentum * mu
            self.run_var = (1 - self.momentum) * self.run_var + self.momentum * var * n / (n - 1)
        else:
            mu, var = self.run_mean, self.run_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xf - mu.reshape(sh)) * inv.reshape(sh)
        self._c = (xhat, inv, ax, sh, x.dtype)
        return (self.gamma.reshape(sh) * xhat + self.beta.reshape(sh)).astype(x.dtype)

    def vjp(self, dy):
        xhat, inv, ax, sh, dt = self._c
        g = dy.astype(np.float64)
        self.dgamma = (g * xhat).sum(axis=ax)
        self.dbeta = g.sum(axis=ax)
        dx = (self.gamma * inv).reshape(sh) * (g - g.mean(axis=ax, keepdims=True))  # BUG
        return dx.astype(dt)
