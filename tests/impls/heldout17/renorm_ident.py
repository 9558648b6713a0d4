"""Batch Renormalization (Ioffe 2017) layer with rmax = 1 and dmax = 0.  CORRECT: with those
clips r = 1 and d = 0 always, so it is exactly BN (Keras running-statistics convention).

Style: the Keras `BatchNormalization(renorm=True)` design in NumPy: `moving_mean` /
`moving_variance` (momentum 0.99, biased variance) are what inference uses, and a second pair
`renorm_mean` / `renorm_stddev` (its own `renorm_momentum` 0.9, a moving standard
deviation) feeds the corrections r = clip(sigma_B / renorm_stddev, 1/rmax, rmax) and
d = clip((mu_B - renorm_mean) / renorm_stddev, -dmax, dmax), held constant in the backward.
`__call__(x, training=False)`, `backward(dy)` returning (dx, dgamma, dbeta).

    bncheck verify renorm_ident.py:BatchRenorm --convention keras
"""

import numpy as np


class BatchRenorm:
    def __init__(self, channels, momentum=0.99, epsilon=1e-3, renorm_momentum=0.9):
        self.momentum = momentum
        self.epsilon = epsilon
        self.renorm_momentum = renorm_momentum
        self.rmax = 1.0
        self.dmax = 0.0
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.moving_mean = np.zeros(channels)
        self.moving_variance = np.ones(channels)
        self.renorm_mean = np.zeros(channels)
        self.renorm_stddev = np.ones(channels)

    def __call__(self, x, training=False):
        axes = (0, *range(2, x.ndim))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        if not training:
            inv = 1.0 / np.sqrt(self.moving_variance + self.epsilon)
            return (self.gamma * inv).reshape(sh) * (
                x - self.moving_mean.reshape(sh)
            ) + self.beta.reshape(sh)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        std = np.sqrt(var + self.epsilon)
        r = np.clip(std / self.renorm_stddev, 1.0 / self.rmax, self.rmax)
        d = np.clip((mean - self.renorm_mean) / self.renorm_stddev, -self.dmax, self.dmax)
        m, rm = self.momentum, self.renorm_momentum
        self.moving_mean = m * self.moving_mean + (1 - m) * mean
        self.moving_variance = m * self.moving_variance + (1 - m) * var
        self.renorm_mean = rm * self.renorm_mean + (1 - rm) * mean
        self.renorm_stddev = rm * self.renorm_stddev + (1 - rm) * std
        xhat = (x - mean.reshape(sh)) / std.reshape(sh)
        self._saved = (xhat, std, r, d, axes, sh)
        return self.gamma.reshape(sh) * (xhat * r.reshape(sh) + d.reshape(sh)) + self.beta.reshape(
            sh
        )

    def backward(self, dy):
        xhat, std, r, d, axes, sh = self._saved
        dgamma = (dy * (xhat * r.reshape(sh) + d.reshape(sh))).sum(axis=axes)
        dbeta = dy.sum(axis=axes)
        dxhat = dy * (self.gamma * r).reshape(sh)
        dx = (
            dxhat
            - dxhat.mean(axis=axes, keepdims=True)
            - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
        ) / std.reshape(sh)
        return dx, dgamma, dbeta
