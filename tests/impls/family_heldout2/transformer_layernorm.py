import numpy as np


class LayerNorm:
    def __init__(self, d_model, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(d_model)
        self.beta = np.zeros(d_model)

    def forward(self, x):
        self.mean = x.mean(-1, keepdims=True)
        self.var = x.var(-1, keepdims=True)
        self.std = np.sqrt(self.var + self.eps)
        self.xhat = (x - self.mean) / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, grad):
        lead = tuple(range(grad.ndim - 1))
        self.dgamma = (grad * self.xhat).sum(axis=lead)
        self.dbeta = grad.sum(axis=lead)
        gx = grad * self.gamma
        n = gx.shape[-1]
        a = gx.sum(-1, keepdims=True)
        b = (gx * self.xhat).sum(-1, keepdims=True)
        return (n * gx - a - self.xhat * b) / (n * self.std)
