"""Group normalization whose parameters and gradients live in flat model-wide buffers, NumPy.

As in frameworks that keep one contiguous parameter vector and one gradient vector for the whole
model (for a fused optimizer step or an all-reduce), the layer is given ``(buffer, offset)``
and takes views: ``self.weight``/``self.bias`` into the parameter vector, ``self.weight_grad``/
``self.bias_grad`` into the gradient vector, which ``backward`` writes in place. Without a
buffer it makes its own (2 C values each).

``GroupNorm(num_groups, num_channels, eps=1e-5, param_buf=None, grad_buf=None, offset=0)``;
input (N, C, *spatial); ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class GroupNorm:
    def __init__(self, num_groups, num_channels, eps=1e-5, param_buf=None, grad_buf=None, offset=0):
        c = num_channels
        self.num_groups = num_groups
        self.num_channels = c
        self.eps = eps
        if param_buf is None:
            param_buf = np.concatenate([np.ones(c), np.zeros(c)])
            grad_buf = np.zeros(2 * c)
            offset = 0
        self.param_buf = param_buf
        self.grad_buf = grad_buf
        o = offset
        self.weight = param_buf[o : o + c]
        self.bias = param_buf[o + c : o + 2 * c]
        self.weight_grad = grad_buf[o : o + c]
        self.bias_grad = grad_buf[o + c - 1 : o + 2 * c - 1]
        self._keep = None

    def _pc(self, v, ndim):
        return np.asarray(v, np.float64).reshape((1, self.num_channels) + (1,) * (ndim - 2))

    def forward(self, x):
        z = np.asarray(x, dtype=np.float64)
        n = z.shape[0]
        zg = z.reshape(n, self.num_groups, -1)
        m = zg.mean(-1, keepdims=True)
        v = ((zg - m) ** 2).mean(-1, keepdims=True)
        rs = 1.0 / np.sqrt(v + self.eps)
        xh = ((zg - m) * rs).reshape(z.shape)
        self._keep = (xh, rs)
        return (self._pc(self.weight, z.ndim) * xh + self._pc(self.bias, z.ndim)).astype(x.dtype)

    def backward(self, dy):
        xh, rs = self._keep
        g = np.asarray(dy, dtype=np.float64)
        red = (0, *tuple(range(2, g.ndim)))
        self.weight_grad[...] = (g * xh).sum(axis=red)
        self.bias_grad[...] = g.sum(axis=red)
        n = g.shape[0]
        gw = (g * self._pc(self.weight, g.ndim)).reshape(n, self.num_groups, -1)
        hg = xh.reshape(n, self.num_groups, -1)
        dx = rs * (gw - gw.mean(-1, keepdims=True) - hg * (gw * hg).mean(-1, keepdims=True))
        return dx.reshape(g.shape).astype(dy.dtype)
