"""Batch normalization whose statistics come from Welford's streaming algorithm, one row
at a time (vectorised over channels), as someone porting a C loop to Python would write
it.  The mode is a required positional argument: forward(x, is_training).

momentum here is the weight of the *old* running value (0.9), i.e. the Keras / cs231n
meaning, and the running variance is the biased batch variance.
"""
import numpy as np


class BN:
    def __init__(self, n_channels, momentum=0.9, eps=1e-5):
        self.C = n_channels
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(n_channels)
        self.beta = np.zeros(n_channels)
        self.running_mean = np.zeros(n_channels)
        self.running_var = np.ones(n_channels)

    def _as_rows(self, x):
        return np.moveaxis(x, 1, -1).reshape(-1, self.C)

    def _from_rows(self, r, shape):
        moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
        return np.moveaxis(r.reshape(moved), -1, 1)

    @staticmethod
    def _welford(rows):
        mean = np.zeros(rows.shape[1])
        m2 = np.zeros(rows.shape[1])
        for k, row in enumerate(rows, start=1):
            delta = row - mean
            mean += delta / k
            m2 += delta * (row - mean)
        return mean, m2 / rows.shape[0]

    def forward(self, x, is_training):
        rows = self._as_rows(x).astype(np.float64)
        if is_training:
            mean, var = self._welford(rows)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            mean, var = self.running_mean, self.running_var
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (rows - mean) * rstd
        if is_training:
            self.cache = (xhat, rstd, x.shape)
        out = xhat * self.gamma + self.beta
        return self._from_rows(out, x.shape).astype(x.dtype)

    def backward(self, dout):
        xhat, rstd, shape = self.cache
        g = self._as_rows(dout).astype(np.float64)
        m = g.shape[0]
        dbeta = g.sum(axis=0)
        dgamma = (g * xhat).sum(axis=0)
        dx = self.gamma * rstd * (g - dbeta / m - xhat * dgamma / m)
        return self._from_rows(dx, shape).astype(dout.dtype), dgamma, dbeta
