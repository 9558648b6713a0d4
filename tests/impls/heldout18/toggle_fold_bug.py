"""NumPy BN layer that speeds up inference by folding gamma, beta and the running statistics
into one per-channel scale and shift, computed at the first eval-mode call and kept.
PyTorch convention (momentum 0.1 on the batch, unbiased running variance), eps 1e-5,
`train()` / `eval()`, forward(x) -> y, backward(dy) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the folded (scale, shift) is cached on the first eval call and never
invalidated: not when `train()` is called, not when the running statistics move, not when
gamma or beta change. The first eval after any amount of training is right; after
train -> eval -> train (more batches) -> eval, the second eval uses the statistics (and
parameters) of the first eval.
"""

import numpy as np


class FoldedBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._fold = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def _folded(self):
        if self._fold is None:
            scale = self.weight / np.sqrt(self.running_var + self.eps)
            self._fold = (scale, self.bias - self.running_mean * scale)
        return self._fold

    def forward(self, x):
        bs = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0, *tuple(range(2, x.ndim)))
        xd = x.astype(np.float64)
        if not self.training:
            scale, shift = self._folded()
            rstd = 1.0 / np.sqrt(self.running_var + self.eps)
            self._ctx = ((xd - self.running_mean.reshape(bs)) * rstd.reshape(bs), rstd, None)
            return (xd * scale.reshape(bs) + shift.reshape(bs)).astype(x.dtype)
        m = xd.size // xd.shape[1]
        mu = xd.mean(axis=axes)
        xc = xd - mu.reshape(bs)
        var = (xc * xc).mean(axis=axes)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (
            m - 1
        )
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd.reshape(bs)
        self._ctx = (xhat, rstd, m)
        return (self.weight.reshape(bs) * xhat + self.bias.reshape(bs)).astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        bs = (1, -1) + (1,) * (dy.ndim - 2)
        axes = (0, *tuple(range(2, dy.ndim)))
        g = dy.astype(np.float64)
        xhat, rstd, m = self._ctx
        dbeta = g.sum(axis=axes)
        dgamma = (g * xhat).sum(axis=axes)
        if m is None:  # eval: a per-channel affine map
            dx = g * (self.weight * rstd).reshape(bs)
            return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
        dx = (self.weight * rstd).reshape(bs) * (
            g - (dbeta.reshape(bs) + xhat * dgamma.reshape(bs)) / m
        )
        return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
