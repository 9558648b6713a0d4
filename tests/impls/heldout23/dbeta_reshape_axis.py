"""A numpy-ml-flavoured layer: parameters in ``self.parameters = {"beta": ..., "gamma": ...}``,
gradients in ``self.gradients`` under the same keys; ``backward(dLdy)`` returns dX.
``forward(X, train=True)``; PyTorch-style running statistics (momentum 0.1 on the batch,
unbiased running variance).

WRONG (one mistake, 4-D input only): dbeta is summed as ``dLdy.reshape(-1, C).sum(axis=0)``,
which for (N, C, H, W) input groups values by their position modulo C in memory, not by
channel (the right sum is over axes (0, 2, 3)). For (N, C) input this is the right sum.
dX (computed with the right sums), dgamma, forward, running statistics and eval are right.
"""

import numpy as np


class BatchNorm:
    def __init__(self, n_in, momentum=0.1, epsilon=1e-5):
        self.momentum = momentum
        self.epsilon = epsilon
        self.parameters = {"beta": np.zeros(n_in), "gamma": np.ones(n_in)}
        self.gradients = {"beta": np.zeros(n_in), "gamma": np.zeros(n_in)}
        self.hyperparameters = {"momentum": momentum, "epsilon": epsilon}
        self.running_mean = np.zeros(n_in)
        self.running_var = np.ones(n_in)
        self.derived = {}

    def forward(self, X, train=True):
        C = X.shape[1]
        Xd = X.astype(np.float64)
        axes = (0, *range(2, X.ndim))
        bc = (1, C) + (1,) * (X.ndim - 2)
        if train:
            mean = Xd.mean(axis=axes)
            var = Xd.var(axis=axes)
            n = Xd.size // C
            self.running_mean = self.momentum * mean + (1 - self.momentum) * self.running_mean
            self.running_var = (
                self.momentum * var * n / (n - 1) + (1 - self.momentum) * self.running_var
            )
        else:
            mean, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.epsilon)
        N_ = (Xd - mean.reshape(bc)) * inv.reshape(bc)
        self.derived = {"N": N_, "inv": inv, "train": train, "dtype": X.dtype}
        gamma, beta = self.parameters["gamma"], self.parameters["beta"]
        return (gamma.reshape(bc) * N_ + beta.reshape(bc)).astype(X.dtype)

    def backward(self, dLdy):
        N_, inv, train, dt = (self.derived[k] for k in ("N", "inv", "train", "dtype"))
        C = dLdy.shape[1]
        d = dLdy.astype(np.float64)
        axes = (0, *range(2, d.ndim))
        bc = (1, C) + (1,) * (d.ndim - 2)
        gamma = self.parameters["gamma"]
        sum_d = d.sum(axis=axes)
        sum_dn = (d * N_).sum(axis=axes)
        self.gradients["gamma"] = sum_dn.astype(dt)
        self.gradients["beta"] = d.reshape(-1, C).sum(axis=0).astype(dt)
        dX = (gamma * inv).reshape(bc) * d
        if train:
            n = d.size // C
            dX = dX - (gamma * inv / n).reshape(bc) * (sum_d.reshape(bc) + N_ * sum_dn.reshape(bc))
        return dX.astype(dt)
