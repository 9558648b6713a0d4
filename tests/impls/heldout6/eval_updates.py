"""Batch norm with a string `mode` argument ("train" / "test"), cs231n-like bookkeeping in a dict.
BUG: the running statistics are updated before the mode is looked at, so a "test" call moves them
(and then normalizes with the freshly moved values)."""

import numpy as np


class ModeBN:
    def __init__(self, C, eps=1e-5, momentum=0.1):
        self.w = np.ones(C)
        self.b = np.zeros(C)
        self.bn_param = {
            "eps": eps,
            "momentum": momentum,
            "running_mean": np.zeros(C),
            "running_var": np.ones(C),
        }

    def forward(self, x, mode="train"):
        p = self.bn_param
        axes = (0, *range(2, x.ndim))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        xf = x.astype(np.float64)
        n = xf.size // xf.shape[1]
        mu = xf.mean(axis=axes)
        var = xf.var(axis=axes)
        mom = p["momentum"]
        p["running_mean"] = (1 - mom) * p["running_mean"] + mom * mu  # BUG: also in "test"
        p["running_var"] = (1 - mom) * p["running_var"] + mom * var * n / (n - 1)
        if mode == "test":
            mu, var = p["running_mean"], p["running_var"]
        elif mode != "train":
            raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
        inv = 1.0 / np.sqrt(var + p["eps"])
        xhat = (xf - mu.reshape(sh)) * inv.reshape(sh)
        self.cache = (xhat, inv, axes, sh, x.dtype)
        return (self.w.reshape(sh) * xhat + self.b.reshape(sh)).astype(x.dtype)

    def backward(self, dout):
        xhat, inv, axes, sh, dt = self.cache
        g = dout.astype(np.float64)
        n = g.size // g.shape[1]
        self.db = g.sum(axis=axes)
        self.dw = (g * xhat).sum(axis=axes)
        dx = (self.w * inv / n).reshape(sh) * (
            n * g - self.db.reshape(sh) - xhat * self.dw.reshape(sh)
        )
        return dx.astype(dt)
