import numpy as np


class RMSNorm:
    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(dim)

    def forward(self, x):
        self.xc = x - x.mean(axis=-1, keepdims=True)
        self.r = 1.0 / np.sqrt((self.xc ** 2).mean(axis=-1, keepdims=True) + self.eps)
        self.xn = self.xc * self.r
        return self.weight * self.xn

    def backward(self, dy):
        n = dy.shape[-1]
        g = dy * self.weight
        self.dweight = (dy * self.xn).reshape(-1, n).sum(0)
        return self.r * (g - g.mean(-1, keepdims=True)
                         - self.xn * (g * self.xn).mean(-1, keepdims=True))
