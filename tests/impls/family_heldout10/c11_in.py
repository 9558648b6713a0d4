"""Instance normalization for images with its parameters in a tuple of (C, 1, 1) arrays, in
NumPy.

``InstanceNorm2d(num_features, eps=1e-5)`` takes (N, C, H, W) only (any other rank is refused,
"expected 4D input"). Its scale (ones) and offset (zeros) are (C, 1, 1), the shape that
broadcasts against one image (C, H, W), and are kept together as ``self.affine = (scale,
offset)``; the layer never names them apart. ``forward(x)``; ``backward(dy)`` returns
``(dx, dscale, doffset)``, the last two in the parameters' (C, 1, 1) shape.
"""

import numpy as np


class InstanceNorm2d:
    def __init__(self, num_features, eps=1e-5):
        self.num_features = num_features
        self.eps = eps
        self.affine = (np.ones((num_features, 1, 1)), np.zeros((num_features, 1, 1)))
        self._stash = None

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")
        scale, offset = (np.asarray(p, np.float64) for p in self.affine)
        v = x.astype(np.float64)
        mu = v.mean(axis=(2, 3), keepdims=True)
        sig2 = v.var(axis=(2, 3), keepdims=True)
        inv = 1.0 / np.sqrt(sig2 + self.eps)
        vhat = (v - mu) * inv
        self._stash = (vhat, inv)
        return (vhat * scale + offset).astype(x.dtype)

    def backward(self, dy):
        vhat, inv = self._stash
        scale = np.asarray(self.affine[0], np.float64)
        d = dy.astype(np.float64)
        dscale = (d * vhat).sum(axis=(0, 2, 3)).reshape(-1, 1, 1)
        doffset = d.sum(axis=(0, 2, 3)).reshape(-1, 1, 1)
        g = d * scale
        m = vhat.shape[2] * vhat.shape[3]
        dx = (inv / m) * (
            m * g
            - g.sum(axis=(2, 3), keepdims=True)
            - vhat * (g * vhat).sum(axis=(2, 3), keepdims=True)
        )
        return dx.astype(dy.dtype), dscale.astype(dy.dtype), doffset.astype(dy.dtype)
