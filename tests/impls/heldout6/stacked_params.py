"""Parameters in one stacked (2, C) array, running moments in another; a string phase attribute.

Keras convention: running = 0.99 * running + 0.01 * batch, biased batch variance, eps 1e-3.
"""

import numpy as np


class StackedBN:
    def __init__(self, channels, eps=1e-3, decay=0.99):
        self.theta = np.stack([np.ones(channels), np.zeros(channels)])  # row 0 scale, row 1 offset
        self.moments = np.stack([np.zeros(channels), np.ones(channels)])  # row 0 mean, row 1 var
        self.dtheta = np.zeros_like(self.theta)
        self.eps = eps
        self.decay = decay
        self.phase = "train"

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        xf = x.astype(np.float64)
        if self.phase == "train":
            mu = xf.mean(axis=axes)
            var = ((xf - mu.reshape(shape)) ** 2).mean(axis=axes)
            batch = np.stack([mu, var])
            self.moments = self.decay * self.moments + (1.0 - self.decay) * batch
        elif self.phase == "infer":
            mu, var = self.moments
        else:
            raise ValueError(f"phase must be 'train' or 'infer', got {self.phase!r}")
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xf - mu.reshape(shape)) * inv.reshape(shape)
        self.ctx = (xhat, inv, axes, shape, x.dtype)
        return (self.theta[0].reshape(shape) * xhat + self.theta[1].reshape(shape)).astype(x.dtype)

    def backward(self, dout):
        xhat, inv, axes, shape, dtype = self.ctx
        g = dout.astype(np.float64)
        m = g.size // g.shape[1]
        sum_g = g.sum(axis=axes)
        sum_gx = (g * xhat).sum(axis=axes)
        self.dtheta = np.stack([sum_gx, sum_g])
        coef = (self.theta[0] * inv / m).reshape(shape)
        return (coef * (m * g - sum_g.reshape(shape) - xhat * sum_gx.reshape(shape))).astype(dtype)
