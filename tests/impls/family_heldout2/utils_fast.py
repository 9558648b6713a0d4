import numpy as np


class InstanceNorm2d:
    def __init__(self, num_features, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = None
        self.dbeta = None

    def forward(self, x):
        mu = x.mean(axis=(2, 3), keepdims=True)
        var = ((x - mu) ** 2).mean(axis=(2, 3), keepdims=True)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu) * self.rstd
        return self.gamma[None, :, None, None] * self.xhat + self.beta[None, :, None, None]

    def backward(self, dout):
        self.dgamma = (dout * self.xhat).sum(axis=(0, 2, 3))
        self.dbeta = dout.sum(axis=(0, 2, 3))
        g = dout * self.gamma[None, :, None, None]
        gm = g.mean(axis=(2, 3), keepdims=True)
        gxm = (g * self.xhat).mean(axis=(2, 3), keepdims=True)
        return self.rstd * (g - gm - self.xhat * gxm)
