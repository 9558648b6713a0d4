"""A from-scratch framework layer with keras defaults: ``BatchNorm(num_features, eps=1e-3,
momentum=0.99)``, ``params`` as attributes ``gamma`` / ``beta``, ``moving_mean`` / ``moving_var``,
``forward(x, train=True)``, ``backward(dout)`` returning dx with the gradients in
``self.grads = {"gamma": ..., "beta": ...}``; its dgamma multiplies dout by the centered input
(x - mu) instead of the normalized one.

WRONG (one mistake): dgamma = Σ dy·(x − mu). Forward, dx, dbeta, moving averages (keras,
biased, momentum 0.99) and eval are right. (N, D) input.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-3, momentum=0.99):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.moving_mean = np.zeros(num_features)
        self.moving_var = np.ones(num_features)
        self.grads = {"gamma": None, "beta": None}
        self.cache = {}

    def forward(self, x, train=True):
        if self.moving_mean.dtype != x.dtype:
            self.moving_mean = self.moving_mean.astype(x.dtype)
            self.moving_var = self.moving_var.astype(x.dtype)
        if not train:
            return self.gamma * (x - self.moving_mean) / np.sqrt(self.moving_var + self.eps) + (
                self.beta
            )
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        x_mu = x - mu
        inv = 1.0 / np.sqrt(var + self.eps)
        x_norm = x_mu * inv
        self.cache = {"x_mu": x_mu, "inv": inv, "x_norm": x_norm}
        self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mu
        self.moving_var = self.momentum * self.moving_var + (1 - self.momentum) * var
        return self.gamma * x_norm + self.beta

    def backward(self, dout):
        x_mu, inv, x_norm = self.cache["x_mu"], self.cache["inv"], self.cache["x_norm"]
        n = dout.shape[0]
        self.grads["beta"] = np.sum(dout, axis=0)
        self.grads["gamma"] = np.sum(dout * x_mu, axis=0)
        dx_norm = dout * self.gamma
        return (
            inv / n * (n * dx_norm - dx_norm.sum(axis=0) - x_norm * (dx_norm * x_norm).sum(axis=0))
        )
