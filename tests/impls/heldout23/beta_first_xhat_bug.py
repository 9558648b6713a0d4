"""A layer whose parameters are listed beta first, ``self.params = [beta, gamma]``, and whose
backward returns the gradients in that order: ``(dx, dbeta, dgamma)``. It has a flat path
for (N, C) input and a separate spatial path for (N, C, ...) input.

WRONG (one mistake, in one place): in the spatial path the returned dgamma is Σ dy·(x − mu)
(the centred input, not x_hat: the factor 1/sqrt(var + eps) is missing). dx, which uses the
right sum internally, the flat (2-D) path, dbeta, running statistics (Keras-style: momentum
0.9 on the old value, biased variance) and eval are right. ``forward(x, is_training=True)``.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_channels, momentum=0.9, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.beta = np.zeros(num_channels)
        self.gamma = np.ones(num_channels)
        self.params = [self.beta, self.gamma]
        self.moving_mean = np.zeros(num_channels)
        self.moving_var = np.ones(num_channels)

    def forward(self, x, is_training=True):
        xx = x.astype(np.float64)
        ax = (0, *range(2, xx.ndim))
        sh = (1, -1) + (1,) * (xx.ndim - 2)
        if is_training:
            mu = xx.mean(axis=ax)
            var = ((xx - mu.reshape(sh)) ** 2).mean(axis=ax)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mu
            self.moving_var = self.momentum * self.moving_var + (1 - self.momentum) * var
        else:
            mu, var = self.moving_mean, self.moving_var
        std = np.sqrt(var + self.eps)
        xc = xx - mu.reshape(sh)
        xhat = xc / std.reshape(sh)
        self.saved = (is_training, xc, xhat, std, ax, sh, x.dtype)
        return (self.gamma.reshape(sh) * xhat + self.beta.reshape(sh)).astype(x.dtype)

    def backward(self, dy):
        is_training, xc, xhat, std, ax, sh, dt = self.saved
        dy = dy.astype(np.float64)
        m = dy.size // dy.shape[1]
        dbeta = dy.sum(axis=ax)
        if dy.ndim == 2:
            dgamma = (dy * xhat).sum(axis=0)
            proj = dgamma
        else:
            proj = (dy * xhat).sum(axis=ax)
            dgamma = (dy * xc).sum(axis=ax)
        if is_training:
            dx = (self.gamma / std).reshape(sh) * (
                dy - dbeta.reshape(sh) / m - xhat * proj.reshape(sh) / m
            )
        else:
            dx = (self.gamma / std).reshape(sh) * dy
        return dx.astype(dt), dbeta.astype(dt), dgamma.astype(dt)
