"""A Caffe-flavoured BN layer: blobs, a phase attribute, forward_pass/backward_pass.

Statistics and running averages follow PyTorch (momentum 0.1, unbiased running variance).
Arithmetic in float64, the output cast back to the input's dtype.
"""

import numpy as np


class CaffeBatchNorm:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.phase = "TRAIN"
        self.blobs = {"scale": np.ones(channels), "shift": np.zeros(channels)}
        self.diffs = {"scale": np.zeros(channels), "shift": np.zeros(channels)}
        self.global_stats = {"mean": np.zeros(channels), "var": np.ones(channels)}

    def _axes(self, x):
        return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)

    def forward_pass(self, bottom):
        axes, bs = self._axes(bottom)
        x = bottom.astype(np.float64)
        if self.phase == "TEST":
            mu = self.global_stats["mean"]
            var = self.global_stats["var"]
        else:
            mu = x.mean(axis=axes)
            var = ((x - mu.reshape(bs)) ** 2).mean(axis=axes)
            m = x.size // x.shape[1]
            mo = self.momentum
            self.global_stats["mean"] = (1 - mo) * self.global_stats["mean"] + mo * mu
            self.global_stats["var"] = (1 - mo) * self.global_stats["var"] + mo * var * m / (m - 1)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(bs)) * rstd.reshape(bs)
        self._saved = (xhat, rstd, bottom.dtype)
        top = xhat * self.blobs["scale"].reshape(bs) + self.blobs["shift"].reshape(bs)
        return top.astype(bottom.dtype)

    def backward_pass(self, top_diff):
        xhat, rstd, dtype = self._saved
        axes, bs = self._axes(xhat)
        g = top_diff.astype(np.float64)
        m = xhat.size // xhat.shape[1]
        db = g.sum(axis=axes)
        dg = (g * xhat).sum(axis=axes)
        self.diffs["scale"] = dg
        self.diffs["shift"] = db
        k = (self.blobs["scale"] * rstd).reshape(bs)
        dx = k * (g - db.reshape(bs) / m - xhat * (dg / m).reshape(bs))
        return dx.astype(dtype)
