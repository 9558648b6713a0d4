"""BN layer with a tiny 'regularising' jitter drawn from NumPy's global RNG in training only."""

import numpy as np

np.random.seed(1234)  # noqa: NPY002  (the global RNG is the point)


class JitterBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, jitter=1e-12):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps, self.momentum, self.jitter = eps, momentum, jitter
        self.training = True

    def __call__(self, x):
        red = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        xd = x.astype(np.float64)
        if self.training:
            mu = xd.mean(axis=red)
            var = ((xd - mu.reshape(shp)) ** 2).mean(axis=red)
            m = x.size // x.shape[1]
            k = self.momentum
            self.running_mean = (1 - k) * self.running_mean + k * mu
            self.running_var = (1 - k) * self.running_var + k * var * (m / (m - 1))
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1 / np.sqrt(var + self.eps)
        xhat = (xd - mu.reshape(shp)) * inv.reshape(shp)
        y = xhat * self.gamma.reshape(shp) + self.beta.reshape(shp)
        if self.training:
            y = y + self.jitter * np.random.standard_normal(y.shape)  # noqa: NPY002
            self._saved = (xhat, inv.reshape(shp))
        return y.astype(x.dtype)

    def backward(self, dy):
        xhat, inv = self._saved
        red = (0, *range(2, dy.ndim))
        shp = (1, -1) + (1,) * (dy.ndim - 2)
        g = dy.astype(np.float64)
        self.dbeta = g.sum(axis=red).astype(dy.dtype)
        self.dgamma = (g * xhat).sum(axis=red).astype(dy.dtype)
        gx = g * self.gamma.reshape(shp)
        dx = inv * (
            gx - gx.mean(axis=red, keepdims=True) - xhat * (gx * xhat).mean(axis=red, keepdims=True)
        )
        return dx.astype(dy.dtype)
