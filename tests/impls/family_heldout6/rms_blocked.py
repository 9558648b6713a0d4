"""RMSNorm written like a blocked GPU kernel: the row is walked in tiles of BLOCK = 4096
columns, each tile gives a partial mean of squares, and the partials are combined. A NumPy
layer class, ``forward(x)`` over the last axis and ``backward(dy)`` (dweight on the layer).
The backward reuses the forward's rstd with the standard closed form.

PLANTED BUG (one): the per-tile means are averaged with equal weights, so a row whose length
is not a multiple of 4096 gives its last, shorter tile too much weight. Rows of at most 4096
values (one tile) are exact; only larger normalized sizes go wrong.
"""

import numpy as np

BLOCK = 4096


class BlockRMSNorm:
    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(dim)

    def forward(self, x):
        xd = x.astype(np.float64)
        n = xd.shape[-1]
        partial = [
            np.mean(xd[..., s : s + BLOCK] ** 2, axis=-1, keepdims=True) for s in range(0, n, BLOCK)
        ]
        ms = sum(partial) / len(partial)
        self.rstd = 1.0 / np.sqrt(ms + self.eps)
        self.xd = xd
        self.dtype = x.dtype
        return (xd * self.rstd * self.weight).astype(x.dtype)

    def backward(self, dy):
        d = dy.astype(np.float64)
        xhat = self.xd * self.rstd
        self.dweight = (d * xhat).sum(axis=tuple(range(d.ndim - 1)))
        g = d * self.weight
        dx = self.rstd * (g - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
        return dx.astype(self.dtype)
