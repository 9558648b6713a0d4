"""A NumPy BatchNorm layer with PyTorch's conventions (momentum 0.1 on the batch, unbiased
running variance, eps 1e-5), any rank 2-5 with channels on axis 1: `forward(x)`,
`backward(dout) -> (dx, dgamma, dbeta)`, `train()`/`eval()`; the eval-mode backward treats the
running statistics as constants. Inference keeps the last output: an eval call on the same
input array returns a copy of it (a serving loop that evaluates one batch several times).

ONE PLANTED BUG: the memo is keyed by the array's identity (`x is self._last_x`), not its
contents. A caller that refills ONE input buffer in place between eval calls (`buf[:] =
next_batch`, a pinned staging array) gets the previous batch's output. Training clears the
memo; a new array each call is always right.
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
        self._last_x = self._last_out = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if not self.training and x is self._last_x:
            return self._last_out.copy()
        self._last_x = self._last_out = None
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
        out = out.astype(x.dtype)
        if not self.training:
            self._last_x, self._last_out = x, out.copy()
        return out

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
