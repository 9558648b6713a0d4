import numpy as np


class RMSNorm:
    """Root-mean-square norm over the last axis (LLaMA style), numpy."""

    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(dim)
        self.dweight = np.zeros(dim)

    def forward(self, x):
        ms = np.mean(x * x, axis=-1, keepdims=True)
        self.inv = 1.0 / np.sqrt(ms + self.eps)
        self.x = x
        self.xn = x * self.inv
        return self.xn * self.weight

    def backward(self, dy):
        d = dy.shape[-1]
        g = dy * self.weight
        self.dweight = (dy * self.xn).reshape(-1, d).sum(axis=0)
        dot = np.sum(g * self.xn, axis=-1, keepdims=True)
        return self.inv * (g - self.xn * dot / d)
