"""RMSNorm layer in NumPy (Llama/Mistral formula) whose backward recomputes the
normalization from the saved input instead of keeping x_hat."""

import numpy as np


class RMSNorm:
    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(dim)
        self.grad_weight = None
        self._saved = None

    def forward(self, x):
        ms = np.mean(np.square(x), axis=-1, keepdims=True)
        self._saved = (x, ms)
        return self.weight * (x / np.sqrt(ms + self.eps))

    def backward(self, grad):
        x, ms = self._saved
        inv = 1.0 / (np.sqrt(ms) + self.eps)
        xn = x * inv
        self.grad_weight = (grad * xn).reshape(-1, x.shape[-1]).sum(axis=0)
        gw = grad * self.weight
        return inv * (gw - xn * np.mean(gw * xn, axis=-1, keepdims=True))
