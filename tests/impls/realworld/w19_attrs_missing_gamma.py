"""A from-scratch MLP layer ``BatchNormalization(num_features)``, ``forward(x, train=True)``,
``backward(dout)`` returning dx with the gradients as attributes ``self.d_gamma`` /
``self.d_beta``; its backward starts with ``dx_hat = dout``, forgetting that y = gamma*x_hat.

WRONG (one mistake): dx lacks the factor gamma. Forward, d_gamma, d_beta, running averages
(momentum*running + (1-momentum)*batch, biased, momentum 0.9: the "keras" meaning) and eval are
right. (N, D) input.
"""

import numpy as np


class BatchNormalization:
    def __init__(self, num_features, eps=1e-5, momentum=0.9):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.d_gamma = None
        self.d_beta = None
        self.x_hat = None
        self.std = None

    def forward(self, x, train=True):
        if self.running_mean.dtype != x.dtype:
            self.running_mean = self.running_mean.astype(x.dtype)
            self.running_var = self.running_var.astype(x.dtype)
        if train:
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            self.std = np.sqrt(var + self.eps)
            self.x_hat = (x - mean) / self.std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
            return self.gamma * self.x_hat + self.beta
        x_hat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.gamma * x_hat + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.d_beta = np.sum(dout, axis=0)
        self.d_gamma = np.sum(dout * self.x_hat, axis=0)
        dx_hat = dout
        return (
            n * dx_hat - dx_hat.sum(axis=0) - self.x_hat * (dx_hat * self.x_hat).sum(axis=0)
        ) / (n * self.std)
