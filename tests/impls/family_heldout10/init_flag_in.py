"""Instance normalization whose parameters are made at the first forward, in NumPy.

As in data-dependent-initialization code (weight norm's ``init`` pass), the layer has an
``initialized`` flag: the first ``forward(x)`` reads the channel count from ``x.shape[1]`` and
creates ``self.g`` (ones) and ``self.b`` (zeros) with the shape ``(1, C, 1, 1)`` they
broadcast with on images; on (N, C, L) input they are viewed as ``(1, C, 1)``. Each sample's
channel is normalized over its spatial axes. ``backward(dy)`` returns dx and leaves
``self.dg``, ``self.db`` in the parameters' shape.
"""

import numpy as np


class InstanceNorm:
    def __init__(self, eps=1e-5):
        self.eps = eps
        self.initialized = False
        self.g = None
        self.b = None
        self.dg = None
        self.db = None
        self.cache = None

    def _init_params(self, x):
        c = x.shape[1]
        self.g = np.ones((1, c, 1, 1))
        self.b = np.zeros((1, c, 1, 1))
        self.initialized = True

    def _bcast(self, p, ndim):
        return np.asarray(p, np.float64).reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"InstanceNorm expects 3D or 4D input, got {x.ndim}D")
        if not self.initialized:
            self._init_params(x)
        xf = x.astype(np.float64)
        axes = tuple(range(2, xf.ndim))
        mu = xf.mean(axis=axes, keepdims=True)
        var = ((xf - mu) ** 2).mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (xf - mu) * rstd
        self.cache = (xhat, rstd, axes)
        y = xhat * self._bcast(self.g, xf.ndim) + self._bcast(self.b, xf.ndim)
        return y.astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, axes = self.cache
        d = dy.astype(np.float64)
        red = (0, *axes)
        self.dg = (d * xhat).sum(axis=red).reshape(np.shape(self.g)).astype(dy.dtype)
        self.db = d.sum(axis=red).reshape(np.shape(self.b)).astype(dy.dtype)
        dxhat = d * self._bcast(self.g, d.ndim)
        dx = rstd * (
            dxhat
            - dxhat.mean(axis=axes, keepdims=True)
            - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dy.dtype)
