"""InstanceNorm2d for (N, C, H, W) feature maps, affine, NumPy."""

import numpy as np


class InstanceNorm2d:
    def __init__(self, num_features, eps=1e-5):
        self.eps = eps
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input, got {x.ndim}D")
        hw = x.shape[-1] ** 2  # square feature maps
        mu = x.sum(axis=(2, 3), keepdims=True) / hw
        xc = x - mu
        var = (xc * xc).sum(axis=(2, 3), keepdims=True) / hw
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = xc * self.rstd
        return self.xhat * self.weight[:, None, None] + self.bias[:, None, None]

    def backward(self, dy):
        hw = dy.shape[-1] ** 2
        self.dweight = (dy * self.xhat).sum(axis=(0, 2, 3))
        self.dbias = dy.sum(axis=(0, 2, 3))
        g = dy * self.weight[:, None, None]
        sg = g.sum(axis=(2, 3), keepdims=True) / hw
        sgx = (g * self.xhat).sum(axis=(2, 3), keepdims=True) / hw
        return self.rstd * (g - sg - self.xhat * sgx)
