"""cs231n-flavoured instance norm layer with a mode string (wrong: momentum used as the
weight of the old value)."""
import numpy as np


class SpatialInstanceNorm:
    def __init__(self, C, eps=1e-5, momentum=0.1):
        self.params = {"gamma": np.ones(C), "beta": np.zeros(C)}
        self.state = {"running_mean": np.zeros(C), "running_var": np.ones(C)}
        self.eps = eps
        self.momentum = momentum

    def forward(self, x, mode="train"):
        N, C = x.shape[:2]
        xr = x.reshape(N, C, -1)
        g = self.params["gamma"].reshape(1, C, 1)
        b = self.params["beta"].reshape(1, C, 1)
        if mode == "train":
            mu = xr.mean(axis=2, keepdims=True)
            var = xr.var(axis=2, keepdims=True)
            M = xr.shape[2]
            mom = self.momentum
            self.state["running_mean"] = mom * self.state["running_mean"] + (1 - mom) * mu[:, :, 0].mean(axis=0)
            self.state["running_var"] = mom * self.state["running_var"] + (1 - mom) * (var[:, :, 0] * M / (M - 1)).mean(axis=0)
        elif mode == "test":
            mu = self.state["running_mean"].reshape(1, C, 1)
            var = self.state["running_var"].reshape(1, C, 1)
        else:
            raise ValueError('Invalid forward mode "%s"' % mode)
        istd = 1.0 / np.sqrt(var + self.eps)
        xhat = (xr - mu) * istd
        self.cache = (xhat, istd, g, x.shape)
        return (g * xhat + b).reshape(x.shape)

    def backward(self, dout):
        xhat, istd, g, shape = self.cache
        N, C = shape[:2]
        d = dout.reshape(N, C, -1)
        dgamma = (d * xhat).sum(axis=(0, 2))
        dbeta = d.sum(axis=(0, 2))
        dxhat = d * g
        M = d.shape[2]
        dx = istd / M * (M * dxhat - dxhat.sum(axis=2, keepdims=True)
                         - xhat * (dxhat * xhat).sum(axis=2, keepdims=True))
        return dx.reshape(shape), dgamma, dbeta
