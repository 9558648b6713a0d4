"""NumPy imitation of an MXNet Gluon block: `hybrid_forward(F, x, gamma, beta, running_mean,
running_var)` written against an array namespace F (NumPy here), called by `__call__(x)` with
the block's own parameters; `use_global_stats=True` normalizes with the running statistics
(inference). Gluon defaults: momentum 0.9 on the old value, biased variance for the running
average, epsilon 1e-5. backward(dy) -> (dx, dgamma, dbeta).

PLANTED MISTAKE: the block keeps the legacy symbol-API default `fix_gamma=True`, so the
forward uses gamma = 1 whatever the gamma parameter holds, while backward treats gamma as
used (dx scaled by gamma, dgamma = sum(dy * xhat)). With gamma = 1 everything is right; with
any other gamma the output ignores it (y = xhat + beta) and dx disagrees with the forward.
"""

import numpy as np


class BatchNorm:
    def __init__(self, in_channels, momentum=0.9, epsilon=1e-5, fix_gamma=True):
        self._kwargs = {"eps": epsilon, "momentum": momentum, "fix_gamma": fix_gamma}
        self.gamma = np.ones(in_channels)
        self.beta = np.zeros(in_channels)
        self.running_mean = np.zeros(in_channels)
        self.running_var = np.ones(in_channels)
        self.use_global_stats = False
        self._mem = None

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        eps, mom = self._kwargs["eps"], self._kwargs["momentum"]
        if self._kwargs["fix_gamma"]:
            gamma = F.ones_like(gamma)
        axes = (0, *range(2, x.ndim))
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        if self.use_global_stats:
            mean, var = running_mean, running_var
        else:
            mean = F.mean(x, axis=axes)
            var = F.mean(F.square(x - F.reshape(mean, bshape)), axis=axes)
            self.running_mean = mom * running_mean + (1 - mom) * mean
            self.running_var = mom * running_var + (1 - mom) * var
        inv = 1.0 / F.sqrt(var + eps)
        xhat = (x - F.reshape(mean, bshape)) * F.reshape(inv, bshape)
        self._mem = (xhat, inv, axes, bshape)
        return xhat * F.reshape(gamma, bshape) + F.reshape(beta, bshape)

    def __call__(self, x):
        out = self.hybrid_forward(
            np,
            np.asarray(x, dtype=np.float64),
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
        )
        return out.astype(x.dtype)

    def backward(self, dy):
        xhat, inv, axes, bshape = self._mem
        d = np.asarray(dy, dtype=np.float64)
        m = d.size // d.shape[1]
        dbeta = d.sum(axis=axes)
        dgamma = (d * xhat).sum(axis=axes)
        dx = (self.gamma * inv).reshape(bshape) * (
            d - dbeta.reshape(bshape) / m - xhat * (dgamma / m).reshape(bshape)
        )
        return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
