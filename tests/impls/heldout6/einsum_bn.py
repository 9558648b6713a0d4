"""Batch norm written with einsum reductions; `__call__` for the forward, `grad` for the
backward."""

import numpy as np


class EinsumBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self._saved = None

    @staticmethod
    def _flat(a):
        # (N, C, ...) -> (N, C, L) in float64
        return np.asarray(a, dtype=np.float64).reshape(a.shape[0], a.shape[1], -1)

    def __call__(self, x, training=True):
        z = self._flat(x)
        if training:
            m = z.shape[0] * z.shape[2]
            mu = np.einsum("ncl->c", z) / m
            d = z - mu[None, :, None]
            var = np.einsum("ncl,ncl->c", d, d) / m
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            unbiased = var * m / (m - 1)
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mu = self.running_mean.astype(np.float64)
            d = z - mu[None, :, None]
            var = self.running_var.astype(np.float64)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = d * inv[None, :, None]
        g = self.weight.astype(np.float64)
        out = np.einsum("ncl,c->ncl", xhat, g) + self.bias.astype(np.float64)[None, :, None]
        if training:
            self._saved = (xhat, inv, x.shape, x.dtype)
        return out.reshape(x.shape).astype(x.dtype)

    def grad(self, dy):
        xhat, inv, shape, dtype = self._saved
        g = self._flat(dy)
        m = g.shape[0] * g.shape[2]
        self.dbias = np.einsum("ncl->c", g)
        self.dweight = np.einsum("ncl,ncl->c", g, xhat)
        k = (self.weight.astype(np.float64) * inv / m)[None, :, None]
        dx = k * (m * g - self.dbias[None, :, None] - xhat * self.dweight[None, :, None])
        self.dbias = self.dbias.astype(self.bias.dtype)
        self.dweight = self.dweight.astype(self.weight.dtype)
        return dx.reshape(shape).astype(dtype)
