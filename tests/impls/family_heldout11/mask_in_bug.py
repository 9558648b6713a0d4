"""Instance normalization followed by a channel gate (network slimming), in NumPy.

After the affine step a fixed per-channel gate ``channel_gate`` (ones; a 0/1 buffer set by a
pruning pass through ``gate_off(idx)``) multiplies the output: ``y = (scale * x_hat + bias) *
gate``. ``scale`` and ``bias`` get gradients ``dscale``, ``dbias``; the gate is not trained.
Input (N, C, L) or (N, C, H, W), statistics per sample and channel over the positions.

``InstanceNorm(num_channels, eps=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class InstanceNorm:
    def __init__(self, num_channels, eps=1e-5):
        self.num_channels = num_channels
        self.eps = eps
        self.scale = np.ones(num_channels)
        self.bias = np.zeros(num_channels)
        self.channel_gate = np.ones(num_channels)
        self.dscale = np.zeros(num_channels)
        self.dbias = np.zeros(num_channels)
        self._saved = None

    def gate_off(self, idx):
        self.channel_gate[np.asarray(idx)] = 0.0

    def _pc(self, v, nd):
        return np.asarray(v, np.float64).reshape((1, self.num_channels) + (1,) * (nd - 2))

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"InstanceNorm: expected 3-D or 4-D input, got {x.ndim}-D")
        a = np.asarray(x, dtype=np.float64)
        ax = tuple(range(2, a.ndim))
        mu = a.mean(axis=ax, keepdims=True)
        var = a.var(axis=ax, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (a - mu) * inv
        self._saved = (xh, inv)
        y = (self._pc(self.scale, a.ndim) * xh + self._pc(self.bias, a.ndim)) * self._pc(
            self.channel_gate, a.ndim
        )
        return y.astype(x.dtype)

    def backward(self, dy):
        xh, inv = self._saved
        g = np.asarray(dy, dtype=np.float64) * self._pc(self.channel_gate, dy.ndim)
        ax = tuple(range(2, g.ndim))
        red = (0, *ax)
        self.dscale = (g * xh).sum(axis=red).astype(dy.dtype)
        self.dbias = g.sum(axis=red).astype(dy.dtype)
        dxh = g * self._pc(self.scale, g.ndim)
        dx = inv * (dxh - xh * (dxh * xh).mean(axis=ax, keepdims=True))
        return dx.astype(dy.dtype)
