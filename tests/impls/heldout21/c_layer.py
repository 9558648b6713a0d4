"""A NumPy BatchNorm layer with PyTorch's conventions (momentum 0.1 on the batch, unbiased
running variance, eps 1e-5), any rank 2-5 with channels on axis 1: `forward(x)`,
`backward(dout) -> (dx, dgamma, dbeta)`, `train()`/`eval()`; the eval-mode backward treats the
running statistics as constants. Correct: the control of the layer rows.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.cache = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        xd = x.astype(np.float64)
        if self.training:
            m = x.size // x.shape[1]
            mean = xd.mean(axis=axes)
            var = ((xd - mean.reshape(shape)) ** 2).mean(axis=axes)
            a = self.momentum
            self.running_mean = (1 - a) * self.running_mean + a * mean
            self.running_var = (1 - a) * self.running_var + a * var * m / (m - 1)
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - mean.reshape(shape)) * inv_std.reshape(shape)
        out = self.gamma.reshape(shape) * xhat + self.beta.reshape(shape)
        self.cache = (xhat, inv_std, self.training, x.dtype)
        return out.astype(x.dtype)

    __call__ = forward

    def backward(self, dout):
        xhat, inv_std, training, dtype = self.cache
        axes = (0, *range(2, dout.ndim))
        shape = (1, -1) + (1,) * (dout.ndim - 2)
        m = dout.size // dout.shape[1]
        d = dout.astype(np.float64)
        dbeta = d.sum(axis=axes)
        dgamma = (d * xhat).sum(axis=axes)
        k = (self.gamma * inv_std).reshape(shape)
        if training:
            dx = k * (d - (dbeta.reshape(shape) + xhat * dgamma.reshape(shape)) / m)
        else:
            dx = k * d
        return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
