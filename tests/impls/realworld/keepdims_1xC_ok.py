"""A from-scratch MLP layer that keeps every per-feature array as a row vector (1, C):
``BatchNorm(fan_in, eps=1e-8, momentum=0.9)`` with ``gamma`` / ``beta`` / ``running_mean`` /
``running_var`` of shape (1, C), ``forward(x, train=True)``, and ``backward(dout)`` returning
``(dx, dgamma, dbeta)`` with the gradients summed with ``keepdims=True``, so of shape (1, C).

Correct maths (an interface deviation: gradients of shape (1, C), not (C,)). Running
averages: momentum*running + (1-momentum)*batch with the biased variance (the "keras" meaning),
momentum 0.9.
"""

import numpy as np


class BatchNorm:
    def __init__(self, fan_in, eps=1e-8, momentum=0.9):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones((1, fan_in))
        self.beta = np.zeros((1, fan_in))
        self.running_mean = np.zeros((1, fan_in))
        self.running_var = np.ones((1, fan_in))
        self.x_norm = None
        self.var = None
        self.mean = None
        self.x = None

    def forward(self, x, train=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if train:
            self.x = x
            self.mean = np.mean(x, axis=0, keepdims=True)
            self.var = np.var(x, axis=0, keepdims=True)
            self.x_norm = (x - self.mean) / np.sqrt(self.var + self.eps)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * self.mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * self.var
            return self.gamma * self.x_norm + self.beta
        x_norm = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.gamma * x_norm + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        dbeta = np.sum(dout, axis=0, keepdims=True)
        dgamma = np.sum(dout * self.x_norm, axis=0, keepdims=True)
        dnorm = dout * self.gamma
        std_inv = 1.0 / np.sqrt(self.var + self.eps)
        dvar = np.sum(dnorm * (self.x - self.mean), axis=0, keepdims=True) * -0.5 * std_inv**3
        dmean = np.sum(-dnorm * std_inv, axis=0, keepdims=True) + dvar * np.mean(
            -2.0 * (self.x - self.mean), axis=0, keepdims=True
        )
        dx = dnorm * std_inv + dvar * 2.0 * (self.x - self.mean) / n + dmean / n
        return dx, dgamma, dbeta
