"""Batch Renormalization (Ioffe 2017) presented as a batch norm layer.

For the first `warmup` training calls r = 1 and d = 0, so it is exactly batch norm; afterwards
r = clip(sigma_B / sigma_run, 1/rmax, rmax) and d = clip((mu_B - mu_run) / sigma_run, -dmax, dmax)
correct the output towards the running statistics, so the same batch gives a different output on
a later call. It is not a batch norm: verify should say so.
"""

import numpy as np


class BatchRenorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, warmup=2, rmax=3.0, dmax=5.0):
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps, self.momentum = eps, momentum
        self.warmup, self.rmax_final, self.dmax_final = warmup, rmax, dmax
        self.steps = 0
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        ax = (0, *range(2, x.ndim))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        xf = x.astype(np.float64)
        if not self.training:
            xhat = (xf - self.running_mean.reshape(sh)) / np.sqrt(
                self.running_var + self.eps
            ).reshape(sh)
            return (self.weight.reshape(sh) * xhat + self.bias.reshape(sh)).astype(x.dtype)
        n = xf.size // xf.shape[1]
        mu = xf.mean(axis=ax)
        var = xf.var(axis=ax)
        sig = np.sqrt(var + self.eps)
        sig_run = np.sqrt(self.running_var + self.eps)
        if self.steps < self.warmup:
            r, d = np.ones_like(mu), np.zeros_like(mu)
        else:
            r = np.clip(sig / sig_run, 1 / self.rmax_final, self.rmax_final)
            d = np.clip((mu - self.running_mean) / sig_run, -self.dmax_final, self.dmax_final)
        self.steps += 1
        xhat = (xf - mu.reshape(sh)) / sig.reshape(sh)
        self._ctx = (xhat, sig, r, ax, sh, x.dtype)
        self.running_mean = self.running_mean + self.momentum * (mu - self.running_mean)
        self.running_var = self.running_var + self.momentum * (var * n / (n - 1) - self.running_var)
        y = self.weight.reshape(sh) * (xhat * r.reshape(sh) + d.reshape(sh)) + self.bias.reshape(sh)
        return y.astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        xhat, sig, r, ax, sh, dt = self._ctx
        g = dy.astype(np.float64)
        n = g.size // g.shape[1]
        self.grad_bias = g.sum(axis=ax)
        self.grad_weight = (g * (xhat * r.reshape(sh))).sum(axis=ax)  # of y = w*(xhat*r + d) + b
        gx = g * (self.weight * r).reshape(sh)
        dx = (
            n * gx - gx.sum(axis=ax, keepdims=True) - xhat * (gx * xhat).sum(axis=ax, keepdims=True)
        ) / (n * sig.reshape(sh))
        return dx.astype(dt)
