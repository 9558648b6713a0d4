"""Batch norm whose channel axis is a constructor keyword; gradients returned as a dict."""

import numpy as np


class AxisBN:
    def __init__(self, n_channels, *, channel_axis=1, eps=1e-5, momentum=0.1):
        self.channel_axis = channel_axis
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(n_channels)
        self.beta = np.zeros(n_channels)
        self.mov_mean = np.zeros(n_channels)
        self.mov_var = np.ones(n_channels)
        self.train_mode = True

    def _move(self, x):
        return np.moveaxis(x, self.channel_axis, -1)  # channels last, a view

    def forward(self, x):
        z = self._move(x.astype(np.float64))
        flat = z.reshape(-1, z.shape[-1])
        if self.train_mode:
            n = flat.shape[0]
            mu = flat.mean(axis=0)
            var = flat.var(axis=0)
            self.mov_mean = (1 - self.momentum) * self.mov_mean + self.momentum * mu
            self.mov_var = (1 - self.momentum) * self.mov_var + self.momentum * var * n / (n - 1)
        else:
            mu, var = self.mov_mean, self.mov_var
        sd = np.sqrt(var + self.eps)
        zhat = (z - mu) / sd
        self._keep = (zhat, sd, x.dtype)
        out = zhat * self.gamma + self.beta
        return np.moveaxis(out, -1, self.channel_axis).astype(x.dtype)

    def backward(self, dy):
        zhat, sd, dtype = self._keep
        g = self._move(dy.astype(np.float64))
        gf = g.reshape(-1, g.shape[-1])
        zf = zhat.reshape(-1, zhat.shape[-1])
        n = gf.shape[0]
        dbeta = gf.sum(axis=0)
        dgamma = (gf * zf).sum(axis=0)
        dz = self.gamma / (n * sd) * (n * g - dbeta - zhat * dgamma)
        return {
            "dx": np.moveaxis(dz, -1, self.channel_axis).astype(dtype),
            "dgamma": dgamma,
            "dbeta": dbeta,
        }
