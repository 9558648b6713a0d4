"""From-scratch InstanceNorm for (N, C, *spatial) in NumPy, affine, with running statistics.

Mirrors the options of torch's InstanceNorm3d (momentum 0.1, running variance with the
unbiased factor, eval mode normalizing with the running statistics).
"""

import numpy as np


class InstanceNorm3d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.grad_weight = None
        self.grad_bias = None
        self._cache = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def _bshape(self, x):
        return (1, x.shape[1]) + (1,) * (x.ndim - 2)

    def forward(self, x):
        if x.ndim < 3:
            raise ValueError("InstanceNorm needs (N, C, *spatial) input")
        axes = tuple(range(2, x.ndim))
        w = self.weight.astype(x.dtype).reshape(self._bshape(x))
        b = self.bias.astype(x.dtype).reshape(self._bshape(x))
        if self.training or not self.track_running_stats:
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = (xc * xc).mean(axis=axes, keepdims=True)
            rstd = 1.0 / np.sqrt(var + self.eps)
            xhat = xc * rstd
            if self.training and self.track_running_stats:
                m = int(np.prod(x.shape[2:]))
                bm = mean.reshape(x.shape[0], x.shape[1]).astype(np.float64).mean(axis=0)
                bv = var.reshape(x.shape[0], x.shape[1]).astype(np.float64).mean(axis=0)
                bv = bv * m / max(m - 1, 1)
                mo = self.momentum
                self.running_mean = (1 - mo) * self.running_mean + mo * bm
                self.running_var = (1 - mo) * self.running_var + mo * bv
            self._cache = ("batch", xhat, rstd, w)
        else:
            rm = self.running_mean.astype(x.dtype).reshape(self._bshape(x))
            rstd = (1.0 / np.sqrt(self.running_var + self.eps)).astype(x.dtype)
            rstd = rstd.reshape(self._bshape(x))
            xhat = (x - rm) * rstd
            self._cache = ("running", xhat, rstd, w)
        return xhat * w + b

    __call__ = forward

    def backward(self, dout):
        kind, xhat, rstd, w = self._cache
        axes = tuple(range(2, dout.ndim))
        red = (0, *axes)
        self.grad_weight = (dout * xhat).sum(axis=red)
        self.grad_bias = dout.sum(axis=red)
        g = dout * w
        if kind == "running":
            return g * rstd
        a = g.mean(axis=axes, keepdims=True)
        b = (g * xhat).mean(axis=axes, keepdims=True)
        return rstd * (g - a - xhat * b)
