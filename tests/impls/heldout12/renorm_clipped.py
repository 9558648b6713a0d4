"""Batch Renormalization (r/d correction towards the running statistics) in NumPy with the
paper's final limits as defaults, r_max = 3, d_max = 5: the training output is
gamma * ((x - mu_B)/sigma_B * r + d) + beta with r, d clipped ratios to the running
statistics (constants for the gradient).  Running statistics as PyTorch (momentum 0.1,
unbiased variance); eval uses them."""

import numpy as np


class BatchRenorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, r_max=3.0, d_max=5.0):
        self.eps, self.momentum = eps, momentum
        self.r_max, self.d_max = r_max, d_max
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    @staticmethod
    def _ch(v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x, training=True):
        nd = x.ndim
        if not training:
            s = self._ch(self.gamma / np.sqrt(self.running_var + self.eps), nd)
            return ((x - self._ch(self.running_mean, nd)) * s + self._ch(self.beta, nd)).astype(x.dtype)
        axes = (0,) + tuple(range(2, nd))
        m = x.size // x.shape[1]
        xd = x.astype(np.float64)
        mu = xd.mean(axis=axes)
        var = ((xd - self._ch(mu, nd)) ** 2).mean(axis=axes)
        sigma = np.sqrt(var + self.eps)
        running_sigma = np.sqrt(self.running_var + self.eps)
        r = np.clip(sigma / running_sigma, 1.0 / self.r_max, self.r_max)
        d = np.clip((mu - self.running_mean) / running_sigma, -self.d_max, self.d_max)
        xn = (xd - self._ch(mu, nd)) / self._ch(sigma, nd)
        self.cache = (xn, sigma, r, axes, m)
        self.running_mean = self.running_mean + self.momentum * (mu - self.running_mean)
        self.running_var = self.running_var + self.momentum * (var * m / (m - 1) - self.running_var)
        xr = xn * self._ch(r, nd) + self._ch(d, nd)
        self.xr = xr
        return (self._ch(self.gamma, nd) * xr + self._ch(self.beta, nd)).astype(x.dtype)

    def backward(self, dy):
        xn, sigma, r, axes, m = self.cache
        nd = dy.ndim
        dyd = dy.astype(np.float64)
        self.dbeta = dyd.sum(axis=axes)
        self.dgamma = (dyd * self.xr).sum(axis=axes)
        dxn = dyd * self._ch(self.gamma * r, nd)
        dx = (dxn - dxn.mean(axis=axes, keepdims=True) - xn * (dxn * xn).mean(axis=axes, keepdims=True)) / self._ch(
            sigma, nd
        )
        return dx.astype(dy.dtype), self.dgamma, self.dbeta
