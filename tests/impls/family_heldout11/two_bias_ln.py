"""LayerNorm with a second, separately trained bias (BitFit-style task adapter), in NumPy.

Parameter-efficient fine-tuning keeps the pretrained ``weight``/``bias`` of a LayerNorm and adds
a task bias ``adapter_bias`` (zeros) after the affine step, so that only the adapter needs to be
stored per task: ``y = weight * x_hat + bias + adapter_bias``. Both biases get a gradient
(``grad_bias``, ``grad_adapter_bias``, both the sum of dy); ``freeze_base()`` marks the base
pair as not trainable, the optimizer then steps only ``adapter_bias``.

``LayerNorm(normalized_shape, eps=1e-5)`` normalizes the last axis; ``forward(x)``;
``backward(dy)`` -> dx.
"""

import numpy as np


class LayerNorm:
    def __init__(self, normalized_shape, eps=1e-5):
        d = int(normalized_shape)
        self.eps = eps
        self.weight = np.ones(d)
        self.bias = np.zeros(d)
        self.adapter_bias = np.zeros(d)
        self.grad_weight = np.zeros(d)
        self.grad_bias = np.zeros(d)
        self.grad_adapter_bias = np.zeros(d)
        self.base_trainable = True
        self._saved = None

    def freeze_base(self):
        self.base_trainable = False

    def trainable(self):
        names = ["adapter_bias"]
        if self.base_trainable:
            names = ["weight", "bias", *names]
        return [(getattr(self, n), getattr(self, "grad_" + n)) for n in names]

    def forward(self, x):
        h = np.asarray(x, dtype=np.float64)
        mu = h.mean(axis=-1, keepdims=True)
        c = h - mu
        inv = 1.0 / np.sqrt((c * c).mean(axis=-1, keepdims=True) + self.eps)
        x_hat = c * inv
        self._saved = (x_hat, inv)
        out = x_hat * self.weight + self.bias
        out = out + self.adapter_bias
        return out.astype(x.dtype)

    def backward(self, dy):
        x_hat, inv = self._saved
        g = np.asarray(dy, dtype=np.float64)
        lead = tuple(range(g.ndim - 1))
        self.grad_weight = (g * x_hat).sum(axis=lead).astype(dy.dtype)
        self.grad_bias = g.sum(axis=lead).astype(dy.dtype)
        self.grad_adapter_bias = g.sum(axis=lead).astype(dy.dtype)
        gx = g * np.asarray(self.weight, np.float64)
        dx = inv * (
            gx - gx.mean(axis=-1, keepdims=True) - x_hat * (gx * x_hat).mean(axis=-1, keepdims=True)
        )
        return dx.astype(dy.dtype)
