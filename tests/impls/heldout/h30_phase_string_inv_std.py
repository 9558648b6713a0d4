"""Batch normalization that keeps a running mean and a running inverse standard deviation
(cheap at inference: one multiply), with the phase given as a string:
forward(x, phase="train"|"test").  momentum is the share of the new batch (0.1).
backward(dout) -> (dx, dgamma, dbeta).
"""
import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.C = num_features
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.inv_std = np.ones(num_features)

    def forward(self, x, phase="train"):
        shp = (1, self.C) + (1,) * (x.ndim - 2)
        self.axes = (0,) + tuple(range(2, x.ndim))
        if phase == "train":
            mean = x.mean(axis=self.axes)
            inv_std = 1.0 / np.sqrt(x.var(axis=self.axes) + self.eps)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.inv_std = (1 - self.momentum) * self.inv_std + self.momentum * inv_std
        elif phase == "test":
            mean, inv_std = self.running_mean, self.inv_std
        else:
            raise ValueError(phase)
        self.x_hat = (x - mean.reshape(shp)) * inv_std.reshape(shp)
        return (self.x_hat * self.gamma.reshape(shp) + self.beta.reshape(shp)).astype(x.dtype, copy=False)

    def backward(self, dout):
        shp = (1, self.C) + (1,) * (dout.ndim - 2)
        m = dout.size // self.C
        dbeta = dout.sum(axis=self.axes)
        dgamma = (dout * self.x_hat).sum(axis=self.axes)
        dx = (self.gamma * self.inv_std / m).reshape(shp) * (
            m * dout - dbeta.reshape(shp) - self.x_hat * dgamma.reshape(shp))
        return dx.astype(dout.dtype, copy=False), dgamma, dbeta
