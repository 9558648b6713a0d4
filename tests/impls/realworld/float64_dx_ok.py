"""A layer whose backward is the staged computational-graph derivation of the popular blog post,
including its ``1. / N * np.ones((N, D)) * dvar`` lines: ``BatchNormLayer(num_features,
eps=1e-5, momentum=0.1)``, ``forward(x, train=True)``, ``backward(dout)`` returning
``(dx, dgamma, dbeta)``.

Correct maths. Interface deviation: ``np.ones((N, D))`` is float64, so a float32 call returns a
float64 dx (y, dgamma and dbeta stay float32). Running statistics as torch: (1-momentum)*old +
momentum*batch with the unbiased variance, momentum 0.1. (N, D) input.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


class BatchNormLayer:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.cache = None

    def forward(self, x, train=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if not train:
            xhat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
            return self.gamma * xhat + self.beta

        N, D = x.shape
        # step 1: mean
        mu = 1.0 / N * np.sum(x, axis=0)
        # step 2: subtract the mean
        xmu = x - mu
        # step 3-4: variance
        sq = xmu**2
        var = 1.0 / N * np.sum(sq, axis=0)
        # step 5-6: add eps, root, invert
        sqrtvar = np.sqrt(var + self.eps)
        ivar = 1.0 / sqrtvar
        # step 7-9
        xhat = xmu * ivar
        out = self.gamma * xhat + self.beta
        self.cache = (xhat, self.gamma, xmu, ivar, sqrtvar, var, self.eps)

        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * (
            var * N / (N - 1)
        )
        return out

    def backward(self, dout):
        xhat, gamma, xmu, ivar, sqrtvar, var, eps = self.cache
        N, D = dout.shape
        # step 9
        dbeta = np.sum(dout, axis=0)
        dgammax = dout
        # step 8
        dgamma = np.sum(dgammax * xhat, axis=0)
        dxhat = dgammax * gamma
        # step 7
        divar = np.sum(dxhat * xmu, axis=0)
        dxmu1 = dxhat * ivar
        # step 6
        dsqrtvar = -1.0 / (sqrtvar**2) * divar
        # step 5
        dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
        # step 4
        dsq = 1.0 / N * np.ones((N, D)) * dvar
        # step 3
        dxmu2 = 2 * xmu * dsq
        # step 2
        dx1 = dxmu1 + dxmu2
        dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
        # step 1
        dx2 = 1.0 / N * np.ones((N, D)) * dmu
        # step 0
        dx = dx1 + dx2
        return dx, dgamma, dbeta
