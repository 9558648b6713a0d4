"""Chainer-v1-style batch normalization: a Function object with forward(inputs) and
backward(inputs, grad_outputs) over tuples, and a link called as link(x, test=False).
avg_mean / avg_var are updated with decay 0.9 (share of the old value), unbiased variance.
"""
import numpy as np


class BatchNormalizationFunction:
    def __init__(self, eps=2e-5, mean=None, var=None, decay=0.9):
        self.eps = eps
        self.running_mean = mean
        self.running_var = var
        self.decay = decay

    def forward(self, inputs):
        x, gamma, beta = inputs
        self.axis = (0,) + tuple(range(2, x.ndim))
        self.expand = (None, Ellipsis) + (None,) * (x.ndim - 2)
        e = lambda v: v.reshape((1, -1) + (1,) * (x.ndim - 2))
        mean = x.mean(axis=self.axis)
        var = x.var(axis=self.axis)
        self.std = np.sqrt(var + self.eps)
        self.x_hat = (x - e(mean)) / e(self.std)
        y = e(gamma) * self.x_hat + e(beta)
        m = x.size // gamma.size
        if self.running_mean is not None:
            self.running_mean *= self.decay
            self.running_mean += (1 - self.decay) * mean
            self.running_var *= self.decay
            self.running_var += (1 - self.decay) * var * m / max(m - 1, 1)
        return (y.astype(x.dtype, copy=False),)

    def backward(self, inputs, grad_outputs):
        x, gamma, _ = inputs
        gy = grad_outputs[0]
        e = lambda v: v.reshape((1, -1) + (1,) * (x.ndim - 2))
        m = x.size // gamma.size
        gbeta = gy.sum(axis=self.axis)
        ggamma = (gy * self.x_hat).sum(axis=self.axis)
        gx = e(gamma / self.std) * (gy + e(gbeta) / m - self.x_hat * e(ggamma) / m)
        return gx.astype(x.dtype, copy=False), ggamma, gbeta


class BatchNormalization:
    def __init__(self, size, decay=0.9, eps=2e-5):
        self.avg_mean = np.zeros(size)
        self.avg_var = np.ones(size)
        self.gamma = np.ones(size)
        self.beta = np.zeros(size)
        self.decay = decay
        self.eps = eps

    def __call__(self, x, test=False, finetune=False):
        e = lambda v: v.reshape((1, -1) + (1,) * (x.ndim - 2))
        if test:
            y = e(self.gamma) * (x - e(self.avg_mean)) / np.sqrt(e(self.avg_var) + self.eps) + e(self.beta)
            return y.astype(x.dtype, copy=False)
        self.func = BatchNormalizationFunction(self.eps, self.avg_mean, self.avg_var, self.decay)
        self.inputs = (x, self.gamma, self.beta)
        return self.func.forward(self.inputs)[0]

    def backward(self, gy):
        gx, self.ggamma, self.gbeta = self.func.backward(self.inputs, (gy,))
        return gx, self.ggamma, self.gbeta
