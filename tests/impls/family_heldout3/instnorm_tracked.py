"""Hand-written InstanceNorm for (N, C, L) / (N, C, H, W) / (N, C, D, H, W) with running
statistics kept like torch.nn.InstanceNorm2d(track_running_stats=True), and eval()/train()."""

import numpy as np


class InstanceNormTracked:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.grad_weight = None
        self.grad_bias = None

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def _p(self, v, nd):
        return v.reshape((1, -1) + (1,) * (nd - 2))

    def forward(self, x):
        if x.ndim < 3:
            raise ValueError(f"expected 3D, 4D or 5D input (got {x.ndim}D input)")
        nd = x.ndim
        sp = tuple(range(2, nd))
        if self.training:
            mu = x.mean(axis=sp, keepdims=True)
            xc = x - mu
            var = (xc * xc).mean(axis=sp, keepdims=True)
            m = int(np.prod(x.shape[2:]))
            batch_mean = mu.reshape(x.shape[:2]).mean(axis=0)
            batch_var = (var.reshape(x.shape[:2]) * m / (m - 1)).mean(axis=0)
            # exponential moving average of the per-instance statistics
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * batch_mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * batch_var
            rstd = 1.0 / np.sqrt(var + self.eps)
            xhat = xc * rstd
            self._cache = (xhat, rstd, sp)
        else:
            xhat = (x - self._p(self.running_mean, nd)) / np.sqrt(
                self._p(self.running_var, nd) + self.eps
            )
            self._cache = None
        return self._p(self.weight, nd) * xhat + self._p(self.bias, nd)

    __call__ = forward

    def backward(self, dy):
        xhat, rstd, sp = self._cache
        nd = dy.ndim
        red = (0, *sp)
        self.grad_weight = (dy * xhat).sum(axis=red)
        self.grad_bias = dy.sum(axis=red)
        g = dy * self._p(self.weight, nd)
        return rstd * (
            g - g.mean(axis=sp, keepdims=True) - xhat * (g * xhat).mean(axis=sp, keepdims=True)
        )
