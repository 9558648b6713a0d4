"""Batch Renormalization (Ioffe 2017) with real clipping after a short warm-up.  NOT BN
once the clips open (the planted difference): a stateful train-mode forward.

Style: keras-contrib's BatchRenormalization: r_max / d_max start at 1 / 0 and are opened to
r_max_inf = 3 and d_max_inf = 5 after `warmup_steps` training calls (3 here, a small-scale
configuration of the paper's 5000-step warm-up), r and d held constant in the backward.
Statistics: `moving_mean` / `moving_variance` for inference (Keras convention, momentum
0.99, biased variance) and `renorm_mean` / `renorm_stddev` for the corrections (momentum 0.9).

On a fresh layer the first 3 training calls are exactly BN, running statistics and eval
are right; from the 4th call on, y = gamma*(x_hat*r + d) + beta with r, d from the moving
renorm statistics, which is not BN of the batch.

    bncheck verify renorm_warm.py:BatchRenorm --convention keras
"""

import numpy as np


class BatchRenorm:
    def __init__(self, channels, momentum=0.99, epsilon=1e-3, warmup_steps=3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.renorm_momentum = 0.9
        self.warmup_steps = warmup_steps
        self.r_max_inf, self.d_max_inf = 3.0, 5.0
        self.step = 0
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.moving_mean = np.zeros(channels)
        self.moving_variance = np.ones(channels)
        self.renorm_mean = np.zeros(channels)
        self.renorm_stddev = np.ones(channels)

    def _clips(self):
        if self.step < self.warmup_steps:
            return 1.0, 0.0
        return self.r_max_inf, self.d_max_inf

    def __call__(self, x, training=False):
        axes = (0, *range(2, x.ndim))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        if not training:
            inv = 1.0 / np.sqrt(self.moving_variance + self.epsilon)
            shift = self.beta - self.gamma * inv * self.moving_mean
            return (self.gamma * inv).reshape(sh) * x + shift.reshape(sh)
        r_max, d_max = self._clips()
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        std = np.sqrt(var + self.epsilon)
        r = np.clip(std / self.renorm_stddev, 1.0 / r_max, r_max)
        d = np.clip((mean - self.renorm_mean) / self.renorm_stddev, -d_max, d_max)
        self.step += 1
        m, rm = self.momentum, self.renorm_momentum
        self.moving_mean = m * self.moving_mean + (1 - m) * mean
        self.moving_variance = m * self.moving_variance + (1 - m) * var
        self.renorm_mean = rm * self.renorm_mean + (1 - rm) * mean
        self.renorm_stddev = rm * self.renorm_stddev + (1 - rm) * std
        xhat = (x - mean.reshape(sh)) / std.reshape(sh)
        corrected = xhat * r.reshape(sh) + d.reshape(sh)
        self._saved = (xhat, corrected, std, r, axes, sh)
        return self.gamma.reshape(sh) * corrected + self.beta.reshape(sh)

    def backward(self, dy):
        xhat, corrected, std, r, axes, sh = self._saved
        dgamma = (dy * corrected).sum(axis=axes)
        dbeta = dy.sum(axis=axes)
        g = dy * (self.gamma * r).reshape(sh)
        dx = (
            g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True)
        ) / std.reshape(sh)
        return dx, dgamma, dbeta
