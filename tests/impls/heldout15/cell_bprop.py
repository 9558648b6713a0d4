"""NumPy imitation of a MindSpore-style Cell: `construct(x)` does the work (`__call__` forwards
to it), the mode is set by `set_train(mode=True)` and a Cell starts in INFERENCE mode
(training False) as MindSpore's do; the custom backward is `bprop(x, out, dout)` returning the
gradients (dx, dgamma, dbeta), recomputing from x. Parameters gamma, beta, moving_mean,
moving_variance; momentum 0.9 weights the old value, the batch variance is biased (as
MindSpore's BatchNorm2d documents), eps 1e-5. 4-D input only (refuses other ranks with
"expected 4D input").

No planted mistake.
"""

import numpy as np


class BatchNorm2d:
    def __init__(self, num_features, eps=1e-5, momentum=0.9):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_variance = np.ones(num_features)
        self.training = False

    def set_train(self, mode=True):
        self.training = bool(mode)
        return self

    def __call__(self, x):
        return self.construct(x)

    @staticmethod
    def _check(x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")

    def _stats(self, xd):
        mean = xd.mean(axis=(0, 2, 3))
        var = ((xd - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
        return mean, var

    def construct(self, x):
        self._check(x)
        xd = np.asarray(x, dtype=np.float64)
        if self.training:
            mean, var = self._stats(xd)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
            self.moving_variance = self.momentum * self.moving_variance + (1 - self.momentum) * var
        else:
            mean, var = self.moving_mean, self.moving_variance
        inv = 1.0 / np.sqrt(var + self.eps)
        y = (xd - mean[None, :, None, None]) * (self.gamma * inv)[None, :, None, None]
        return (y + self.beta[None, :, None, None]).astype(x.dtype)

    def bprop(self, x, out, dout):
        self._check(x)
        xd = np.asarray(x, dtype=np.float64)
        d = np.asarray(dout, dtype=np.float64)
        mean, var = self._stats(xd)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - mean[None, :, None, None]) * inv[None, :, None, None]
        m = xd.size // xd.shape[1]
        dbeta = d.sum(axis=(0, 2, 3))
        dgamma = (d * xhat).sum(axis=(0, 2, 3))
        dx = (self.gamma * inv)[None, :, None, None] * (
            d - (dbeta / m)[None, :, None, None] - xhat * (dgamma / m)[None, :, None, None]
        )
        return dx.astype(dout.dtype), dgamma.astype(dout.dtype), dbeta.astype(dout.dtype)
