"""Batch norm as a small callable object with __slots__ (no per-instance __dict__)."""
import numpy as np


class SlotsBN:
    __slots__ = ("gamma", "beta", "dgamma", "dbeta", "running_mean", "running_var",
                 "eps", "momentum", "training", "_saved")

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = np.zeros(num_features)
        self.dbeta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self._saved = None

    @staticmethod
    def _layout(x):
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = [1] * x.ndim
        bshape[1] = x.shape[1]
        return axes, tuple(bshape)

    def __call__(self, x, training=None):
        if training is None:
            training = self.training
        axes, bshape = self._layout(x)
        dt = x.dtype
        g = self.gamma.astype(dt).reshape(bshape)
        b = self.beta.astype(dt).reshape(bshape)
        if not training:
            mu = self.running_mean.astype(dt).reshape(bshape)
            sd = np.sqrt(self.running_var.astype(dt) + dt.type(self.eps)).reshape(bshape)
            return (x - mu) / sd * g + b
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError("need more than one value per channel in training")
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + dt.type(self.eps))
        xhat = xc * rstd
        mom = self.momentum
        self.running_mean = (1 - mom) * self.running_mean + mom * mu.reshape(-1).astype(np.float64)
        self.running_var = (1 - mom) * self.running_var + mom * var.reshape(-1).astype(np.float64) * m / (m - 1)
        self._saved = (xhat, rstd, axes, g)
        return xhat * g + b

    def backward(self, dy):
        xhat, rstd, axes, g = self._saved
        self.dbeta = dy.sum(axis=axes)
        self.dgamma = (dy * xhat).sum(axis=axes)
        dxhat = dy * g
        return rstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                       - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
