"""A BN whose forward takes ``mode='train'`` or ``mode='test'`` and keeps cumulative running
statistics (the plain average over every batch seen, as PyTorch's ``momentum=None``, unbiased
variance) in a dict. ``backward`` returns (dx, dgamma, dbeta). Correct.
"""

import numpy as np


class RunningAverageBN:
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.running = {"mean": np.zeros(dim), "var": np.ones(dim)}
        self.seen = 0

    def forward(self, x, mode="train"):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        c = x.shape[1]
        axes = (0, *range(2, x.ndim))
        shp = (1, c) + (1,) * (x.ndim - 2)
        if mode == "train":
            mu = x.mean(axis=axes)
            var = ((x - mu.reshape(shp)) ** 2).mean(axis=axes)
            m = x.size // c
            self.seen += 1
            k = 1.0 / self.seen
            self.running["mean"] = self.running["mean"] + k * (mu - self.running["mean"])
            self.running["var"] = self.running["var"] + k * (
                var * m / (m - 1) - self.running["var"]
            )
        else:
            mu, var = self.running["mean"], self.running["var"]
        istd = (1.0 / np.sqrt(var + self.eps)).reshape(shp)
        xh = (x - mu.reshape(shp)) * istd
        self.cache = (xh, istd, axes, shp)
        return (self.gamma.reshape(shp) * xh + self.beta.reshape(shp)).astype(x.dtype)

    def backward(self, dout):
        xh, istd, axes, shp = self.cache
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * xh).sum(axis=axes)
        d = dout * self.gamma.reshape(shp)
        dx = istd * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dout.dtype), dgamma, dbeta
