"""A lazily-built layer, ``BatchNormLayer()`` with ``gamma`` / ``beta`` / ``running_mean`` /
``running_var`` all None until the first forward (sized from x), ``forward(x, training=True)``,
``backward(dout)`` returning dx with ``self.dgamma`` / ``self.dbeta``; it keeps running
averages but its inference branch still normalizes with the statistics of the batch it is given.

WRONG (one mistake): eval mode uses the batch statistics. Training and the running averages
(momentum*running + (1-momentum)*batch, biased, momentum 0.9: the "keras" meaning) are right.
(N, D) input.
"""

import numpy as np


class BatchNormLayer:
    def __init__(self, momentum=0.9, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = None
        self.beta = None
        self.running_mean = None
        self.running_var = None
        self.dgamma = None
        self.dbeta = None
        self.cache = None

    def forward(self, x, training=True):
        if self.running_mean is None or self.running_var is None:
            D = x.shape[1]
            self.gamma = np.ones(D, dtype=x.dtype)
            self.beta = np.zeros(D, dtype=x.dtype)
            self.running_mean = np.zeros(D, dtype=x.dtype)
            self.running_var = np.ones(D, dtype=x.dtype)

        mu = np.mean(x, axis=0)
        var = np.var(x, axis=0)
        x_norm = (x - mu) / np.sqrt(var + self.eps)
        if training:
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
            self.cache = (x_norm, var)
        return self.gamma * x_norm + self.beta

    def backward(self, dout):
        x_norm, var = self.cache
        N = dout.shape[0]
        self.dbeta = np.sum(dout, axis=0)
        self.dgamma = np.sum(dout * x_norm, axis=0)
        dx_norm = dout * self.gamma
        return (
            N * dx_norm - np.sum(dx_norm, axis=0) - x_norm * np.sum(dx_norm * x_norm, axis=0)
        ) / (N * np.sqrt(var + self.eps))
