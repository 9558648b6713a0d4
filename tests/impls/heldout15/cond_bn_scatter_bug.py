"""Class-conditional BN for a conditional GAN, in PyTorch-free NumPy (as course code ports
"ConditionalBatchNorm2d(num_features, num_classes)"): embedding tables embed_gamma/embed_beta of
shape (num_classes, C) indexed by the labels; `forward(x, y=None)` (no labels: class 0 for all,
so row 0 acts as the BN's gamma/beta). backward(dy) -> dx; the tables' gradients are left in
grad_gamma/grad_beta. Keras-type running statistics (momentum 0.9 on the old value, biased
variance); `is_train` attribute.

PLANTED MISTAKE: the per-sample gamma gradients are scattered to the table with fancy-index
`+=` (grad_gamma[y] += per_sample), which with repeated labels keeps only the last sample's
contribution instead of summing over the samples of a class (np.add.at is used for beta,
correctly). With every sample of class 0, grad_gamma[0] is sum over the last sample alone:
wrong for every batch with N >= 2, right for N = 1. Forward, dx, dbeta, running, eval right.
"""

import numpy as np


class ConditionalBatchNorm:
    def __init__(self, num_features, num_classes=5, eps=1e-5, momentum=0.9):
        self.eps = eps
        self.momentum = momentum
        self.embed_gamma = np.ones((num_classes, num_features))
        self.embed_beta = np.zeros((num_classes, num_features))
        self.grad_gamma = np.zeros_like(self.embed_gamma)
        self.grad_beta = np.zeros_like(self.embed_beta)
        self.avg_mean = np.zeros(num_features)
        self.avg_var = np.ones(num_features)
        self.is_train = True

    def forward(self, x, y=None):
        xd = np.asarray(x, dtype=np.float64)
        n = xd.shape[0]
        y = np.zeros(n, dtype=np.intp) if y is None else np.asarray(y, dtype=np.intp)
        axes = (0, *range(2, xd.ndim))
        bshape = (1, -1) + (1,) * (xd.ndim - 2)
        if self.is_train:
            mu = xd.mean(axis=axes)
            var = ((xd - mu.reshape(bshape)) ** 2).mean(axis=axes)
            self.avg_mean = self.momentum * self.avg_mean + (1 - self.momentum) * mu
            self.avg_var = self.momentum * self.avg_var + (1 - self.momentum) * var
        else:
            mu, var = self.avg_mean, self.avg_var
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - mu.reshape(bshape)) * rstd.reshape(bshape)
        sshape = (n, -1) + (1,) * (xd.ndim - 2)
        gam = self.embed_gamma[y].reshape(sshape)
        self._saved = (xhat, rstd, gam, y, axes, bshape)
        return (gam * xhat + self.embed_beta[y].reshape(sshape)).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, gam, y, axes, bshape = self._saved
        d = np.asarray(dy, dtype=np.float64)
        n, c = d.shape[:2]
        m = d.size // c
        dxhat = d * gam
        dx = (rstd.reshape(bshape) / m) * (
            m * dxhat
            - dxhat.sum(axis=axes, keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)
        )
        self.grad_gamma = np.zeros_like(self.embed_gamma)
        self.grad_beta = np.zeros_like(self.embed_beta)
        self.grad_gamma[y] += (d * xhat).reshape(n, c, -1).sum(axis=2)
        np.add.at(self.grad_beta, y, d.reshape(n, c, -1).sum(axis=2))
        return dx.astype(dy.dtype)
