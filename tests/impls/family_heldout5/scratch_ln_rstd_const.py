"""LayerNorm layer of a from-scratch NumPy transformer: normalises the last dimension, keeps
what the backward needs in ``ctx`` and leaves parameter gradients in ``grads``."""

import numpy as np


class LayerNorm:
    def __init__(self, d_model, eps=1e-5):
        self.eps = eps
        self.weight = np.ones(d_model)
        self.bias = np.zeros(d_model)
        self.ctx = {}
        self.grads = {"weight": None, "bias": None}

    def forward(self, inputs):
        mu = inputs.mean(axis=-1, keepdims=True)
        centred = inputs - mu
        var = np.mean(centred**2, axis=-1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        normed = centred * inv_std
        self.ctx = {"normed": normed, "inv_std": inv_std}
        return normed * self.weight + self.bias

    def backward(self, grad):
        normed, inv_std = self.ctx["normed"], self.ctx["inv_std"]
        lead = tuple(range(grad.ndim - 1))
        self.grads["weight"] = np.sum(grad * normed, axis=lead)
        self.grads["bias"] = np.sum(grad, axis=lead)
        g = grad * self.weight
        # (x - mu) * inv_std: the mean moves with x, the scale inv_std is a per-row constant
        return inv_std * (g - g.mean(axis=-1, keepdims=True))
