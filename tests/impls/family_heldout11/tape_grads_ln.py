"""LayerNorm of a small autodiff-tape framework, its gradient list led by the input's, in NumPy.

The framework records, for each layer, the gradients of all its inputs in the order the tape
saw them: the data first, then the parameters. So ``self.grads = [dx, dscale, dbias]`` while
``self.params = [scale, bias]``; the optimizer pairs them as ``zip(self.params,
self.grads[1:])`` (``sgd_step``). The layer also keeps its initial values, ``scale_init``
(``init_scale`` for every feature) and ``bias_init``, for ``reset_parameters()``; the forward
reads ``self.params`` only.

``LayerNorm(dim, eps=1e-5, init_scale=1.0)`` normalizes the last axis; ``forward(x)``;
``backward(dy)`` -> dx.
"""

import numpy as np


class LayerNorm:
    def __init__(self, dim, eps=1e-5, init_scale=1.0):
        self.dim = dim
        self.eps = eps
        self.scale_init = np.full(dim, float(init_scale))
        self.bias_init = np.zeros(dim)
        self.params = []
        self.grads = []
        self.reset_parameters()
        self._ctx = None

    def reset_parameters(self):
        self.params = [self.scale_init.copy(), self.bias_init.copy()]
        self.grads = [None, np.zeros(self.dim), np.zeros(self.dim)]

    def sgd_step(self, lr):
        for p, g in zip(self.params, self.grads[1:], strict=False):
            p -= lr * g

    def forward(self, x):
        a = np.asarray(x, dtype=np.float64)
        mu = a.mean(-1, keepdims=True)
        var = a.var(-1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xh = (a - mu) * rstd
        self._ctx = (xh, rstd)
        scale, bias = self.params
        return (xh * scale + bias).astype(x.dtype)

    def backward(self, dy):
        xh, rstd = self._ctx
        g = np.asarray(dy, dtype=np.float64)
        g2 = g.reshape(-1, self.dim)
        h2 = xh.reshape(-1, self.dim)
        gs = g * np.asarray(self.params[0], np.float64)
        dx = rstd * (gs - gs.mean(-1, keepdims=True) - xh * (gs * xh).mean(-1, keepdims=True))
        dx = dx.astype(dy.dtype)
        self.grads = [dx, (g2 * h2).sum(0).astype(dy.dtype), g2.sum(0).astype(dy.dtype)]
        return dx
