"""Batch norm whose train/inference behaviour is selected by an enum.Enum `mode`."""
import enum

import numpy as np


class Mode(enum.Enum):
    TRAIN = "train"
    INFER = "infer"


class EnumModeBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, mode=Mode.TRAIN):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum
        self.mode = mode

    def set_mode(self, mode):
        self.mode = Mode(mode)

    def forward(self, x):
        axes = (0,) + tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        batch_mean = x.mean(axis=axes)
        batch_var = x.var(axis=axes)
        if self.mode is Mode.TRAIN:
            n = x.size // x.shape[1]
            mean, var = batch_mean, batch_var
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * batch_mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * batch_var * n / (n - 1)
        else:
            mean, var = self.running_mean.astype(x.dtype), batch_var
        inv = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        xhat = (x - mean.reshape(shp)) * inv.reshape(shp)
        self.cache = (xhat, inv.reshape(shp), axes, shp)
        return self.gamma.astype(x.dtype).reshape(shp) * xhat + self.beta.astype(x.dtype).reshape(shp)

    def backward(self, dout):
        xhat, inv, axes, shp = self.cache
        self.dgamma = (dout * xhat).sum(axis=axes)
        self.dbeta = dout.sum(axis=axes)
        d = dout * self.gamma.astype(dout.dtype).reshape(shp)
        return inv * (d - d.mean(axis=axes, keepdims=True) - xhat * (d * xhat).mean(axis=axes, keepdims=True))
