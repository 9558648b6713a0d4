"""A BN whose train/test behaviour is chosen per call by a mode string.

Running averages follow Keras: new = decay * old + (1 - decay) * batch, biased variance.
"""

import numpy as np


class ModeBN:
    def __init__(self, n_channels, eps=1e-3, decay=0.9):
        self.eps = eps
        self.decay = decay
        self.params = [np.ones(n_channels), np.zeros(n_channels)]
        self.grads = [np.zeros(n_channels), np.zeros(n_channels)]
        self.moving_mean = np.zeros(n_channels)
        self.moving_var = np.ones(n_channels)

    def __call__(self, x, mode="train"):
        axes = (0,) + tuple(range(2, x.ndim))
        bs = (1, -1) + (1,) * (x.ndim - 2)
        gamma, beta = (p.astype(x.dtype) for p in self.params)
        if mode == "train":
            mu = x.mean(axis=axes)
            var = ((x - mu.reshape(bs)) ** 2).mean(axis=axes)
            d = self.decay
            self.moving_mean = d * self.moving_mean + (1 - d) * mu
            self.moving_var = d * self.moving_var + (1 - d) * var
        elif mode == "test":
            mu = self.moving_mean.astype(x.dtype)
            var = self.moving_var.astype(x.dtype)
        else:
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        rstd = 1 / np.sqrt(var + x.dtype.type(self.eps))
        xhat = (x - mu.reshape(bs)) * rstd.reshape(bs)
        self.cache = (xhat, rstd, gamma)
        return gamma.reshape(bs) * xhat + beta.reshape(bs)

    def backward(self, dout):
        xhat, rstd, gamma = self.cache
        axes = (0,) + tuple(range(2, dout.ndim))
        bs = (1, -1) + (1,) * (dout.ndim - 2)
        m = xhat.size // xhat.shape[1]
        db = dout.sum(axis=axes)
        dg = (dout * xhat).sum(axis=axes)
        self.grads = [dg, db]
        dxhat = dout * gamma.reshape(bs)
        dx = rstd.reshape(bs) / m * (
            m * dxhat - dxhat.sum(axis=axes, keepdims=True) - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)
        )
        return dx
