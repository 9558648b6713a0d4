"""Class-conditional BN in NumPy, in the style of conditional-GAN generators (SNGAN/BigGAN
"CategoricalConditionalBatchNorm"): the scale and shift come from per-class tables
gamma_table[label], beta_table[label] of shape (num_classes, C); the statistics are the batch's
as in any BN. `__call__(x, labels=None)`: without labels every sample is class 0, so row 0 is
the BN's gamma/beta. backward(dy) -> dx, gradients scattered into dgamma_table/dbeta_table by
class. torch-convention running statistics; attribute `training`.

No planted mistake.
"""

import numpy as np


class CondBN:
    def __init__(self, num_features, num_classes=10, eps=2e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma_table = np.ones((num_classes, num_features))
        self.beta_table = np.zeros((num_classes, num_features))
        self.dgamma_table = np.zeros_like(self.gamma_table)
        self.dbeta_table = np.zeros_like(self.beta_table)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._ctx = None

    def __call__(self, x, labels=None):
        xd = np.asarray(x, dtype=np.float64)
        n = xd.shape[0]
        if labels is None:
            labels = np.zeros(n, dtype=np.int64)
        axes = (0, *range(2, xd.ndim))
        bshape = (1, -1) + (1,) * (xd.ndim - 2)
        sshape = (n, -1) + (1,) * (xd.ndim - 2)
        if self.training:
            mu = xd.mean(axis=axes)
            var = xd.var(axis=axes)
            m = xd.size // xd.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (
                m / (m - 1)
            )
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - mu.reshape(bshape)) * inv.reshape(bshape)
        g = self.gamma_table[labels].reshape(sshape)
        b = self.beta_table[labels].reshape(sshape)
        self._ctx = (xhat, inv, g, labels, axes, bshape)
        return (g * xhat + b).astype(x.dtype)

    def backward(self, dy):
        xhat, inv, g, labels, axes, bshape = self._ctx
        d = np.asarray(dy, dtype=np.float64)
        n, c = d.shape[0], d.shape[1]
        dxhat = d * g
        m = d.size // c
        dx = (
            inv.reshape(bshape)
            / m
            * (
                m * dxhat
                - dxhat.sum(axis=axes).reshape(bshape)
                - xhat * (dxhat * xhat).sum(axis=axes).reshape(bshape)
            )
        )
        per_sample_dg = (d * xhat).reshape(n, c, -1).sum(axis=-1)
        per_sample_db = d.reshape(n, c, -1).sum(axis=-1)
        self.dgamma_table = np.zeros_like(self.gamma_table)
        self.dbeta_table = np.zeros_like(self.beta_table)
        np.add.at(self.dgamma_table, labels, per_sample_dg)
        np.add.at(self.dbeta_table, labels, per_sample_db)
        return dx.astype(dy.dtype)
