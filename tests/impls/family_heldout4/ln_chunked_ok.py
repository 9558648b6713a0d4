"""BERT-style LayerNorm layer in NumPy (eps 1e-12, TF's habit), reductions done in chunks of
4096 values so that a long hidden size never holds a full-row temporary of squares.
Two-pass: the mean first, then the centred squares."""

import numpy as np

CHUNK = 4096


def _chunked_sum(a):
    """Sum over the last axis, CHUNK values at a time."""
    total = np.zeros(a.shape[:-1], dtype=a.dtype)
    for s in range(0, a.shape[-1], CHUNK):
        total += a[..., s : s + CHUNK].sum(axis=-1)
    return total


class BertLayerNorm:
    def __init__(self, hidden_size, eps=1e-12):
        self.hidden_size = hidden_size
        self.eps = eps
        self.weight = np.ones(hidden_size)
        self.bias = np.zeros(hidden_size)
        self.grads = {}
        self._saved = None

    def forward(self, x):
        D = x.shape[-1]
        mean = _chunked_sum(x) / D
        xc = x - mean[..., None]
        var = _chunked_sum(xc * xc) / D
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd[..., None]
        self._saved = (xhat, rstd)
        return xhat * self.weight + self.bias

    __call__ = forward

    def backward(self, dout):
        xhat, rstd = self._saved
        D = xhat.shape[-1]
        lead = tuple(range(dout.ndim - 1))
        self.grads["weight"] = (dout * xhat).sum(axis=lead)
        self.grads["bias"] = dout.sum(axis=lead)
        g = dout * self.weight
        a = _chunked_sum(g) / D
        b = _chunked_sum(g * xhat) / D
        return rstd[..., None] * (g - a[..., None] - xhat * b[..., None])
