"""A NumPy transformer-from-scratch LayerNorm layer over the last axis, with a hand-written
backward that stores its parameter gradients on the layer.

BUG (planted): the backward drops the path through the variance:
dx = gamma / std * (dout - mean(dout)), missing the - x_hat * mean(dout * x_hat) term.
"""

import numpy as np


class LayerNorm:
    def __init__(self, d_model, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(d_model)
        self.beta = np.zeros(d_model)
        self.dgamma = np.zeros(d_model)
        self.dbeta = np.zeros(d_model)

    def forward(self, x):
        self.mean = x.mean(axis=-1, keepdims=True)
        self.std = np.sqrt(x.var(axis=-1, keepdims=True) + self.eps)
        self.x_hat = (x - self.mean) / self.std
        return self.gamma * self.x_hat + self.beta

    def backward(self, dout):
        red = tuple(range(dout.ndim - 1))
        self.dgamma = (dout * self.x_hat).sum(axis=red)
        self.dbeta = dout.sum(axis=red)
        g = dout * self.gamma
        return (g - g.mean(axis=-1, keepdims=True)) / self.std
