"""Group normalization pruned channel-wise the way ``torch.nn.utils.prune`` does it, in NumPy.

Pruning reparametrizes the gain: the trained values move to ``weight_orig`` (ones), a fixed 0/1
buffer ``weight_mask`` (ones until channels are pruned) multiplies them, and ``weight`` is a
read-only property, ``weight_orig * weight_mask``, recomputed at every use. ``bias`` is plain.
The optimizer steps ``weight_orig`` and ``bias`` with ``weight_orig_grad``, ``bias_grad``; the
mask gets no gradient. ``prune_channels(idx)`` zeroes mask entries.

``GroupNorm(num_groups, num_channels, eps=1e-5)``; input (N, C, *spatial);
``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5):
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.weight_orig = np.ones(num_channels)
        self.weight_mask = np.ones(num_channels)
        self.bias = np.zeros(num_channels)
        self.weight_orig_grad = None
        self.bias_grad = None
        self._tape = None

    @property
    def weight(self):
        return self.weight_orig * self.weight_mask

    def prune_channels(self, idx):
        self.weight_mask[np.asarray(idx)] = 0.0

    def _ch(self, v, ndim):
        return np.asarray(v, np.float64).reshape((1, self.num_channels) + (1,) * (ndim - 2))

    def forward(self, x):
        z = np.asarray(x, dtype=np.float64)
        n = z.shape[0]
        zg = z.reshape(n, self.num_groups, -1)
        mean = zg.mean(axis=2, keepdims=True)
        var = zg.var(axis=2, keepdims=True)
        rstd = (var + self.eps) ** -0.5
        xhat = ((zg - mean) * rstd).reshape(z.shape)
        self._tape = (xhat, rstd)
        out = self._ch(self.weight, z.ndim) * xhat + self._ch(self.bias, z.ndim)
        return out.astype(x.dtype)

    def backward(self, dy):
        xhat, rstd = self._tape
        g = np.asarray(dy, dtype=np.float64)
        red = (0, *tuple(range(2, g.ndim)))
        mask = self.weight_mask
        self.weight_orig_grad = ((g * xhat).sum(axis=red) * mask).astype(dy.dtype)
        self.bias_grad = g.sum(axis=red).astype(dy.dtype)
        n = g.shape[0]
        gg = (g * self._ch(self.weight, g.ndim)).reshape(n, self.num_groups, -1)
        hh = xhat.reshape(n, self.num_groups, -1)
        dx = rstd * (
            gg - gg.mean(axis=2, keepdims=True) - hh * (gg * hh).mean(axis=2, keepdims=True)
        )
        return dx.reshape(g.shape).astype(dy.dtype)
