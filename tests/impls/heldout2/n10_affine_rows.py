"""Batch norm whose parameters live in one (2, C) array `affine` (row 0 gamma, row 1 beta),
gradients in `d_affine`, and running statistics in one (2, C) array `running` (mean; var).
Any rank is handled by moving the channel axis last and flattening to (M, C)."""
import numpy as np


class AffineRowsBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.affine = np.stack([np.ones(num_features), np.zeros(num_features)])
        self.d_affine = np.zeros_like(self.affine)
        self.running = np.stack([np.zeros(num_features), np.ones(num_features)])
        self.eps = eps
        self.momentum = momentum

    def forward(self, x, training=True):
        C = x.shape[1]
        xt = np.moveaxis(x, 1, -1)
        moved_shape = xt.shape
        x2 = xt.reshape(-1, C)
        gamma, beta = self.affine.astype(x.dtype)
        if training:
            m = x2.shape[0]
            mu = x2.mean(axis=0)
            var = x2.var(axis=0)
            self.running = (1 - self.momentum) * self.running + self.momentum * np.stack([mu, var * m / (m - 1)])
        else:
            mu, var = self.running.astype(x.dtype)
        inv = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        xhat = (x2 - mu) * inv
        y2 = xhat * gamma + beta
        if training:
            self._cache = (xhat, inv, gamma, moved_shape)
        return np.moveaxis(y2.reshape(moved_shape), -1, 1)

    def backward(self, dy):
        xhat, inv, gamma, moved_shape = self._cache
        C = dy.shape[1]
        dy2 = dy.reshape(-1, C)
        m = dy2.shape[0]
        self.d_affine = np.stack([(dy2 * xhat).sum(axis=0), dy2.sum(axis=0)])
        dxhat = dy2 * gamma
        dx2 = inv / m * (m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
        return np.moveaxis(dx2.reshape(moved_shape), -1, 1)
