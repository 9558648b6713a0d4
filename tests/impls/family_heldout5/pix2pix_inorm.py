"""Instance normalisation for channels-last images (N, H, W, C) with per-channel scale and
offset, as in image-to-image GAN generators; statistics over the spatial axes of each image."""

import numpy as np


def instance_norm_forward(x, scale, offset, eps=1e-5):
    if x.ndim < 3:
        raise ValueError(f"expected 3D, 4D or 5D input (got {x.ndim}D input)")
    axes = tuple(range(1, x.ndim - 1))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    normalized = (x - mean) * inv
    return scale * normalized + offset, (normalized, inv, scale, axes)


def instance_norm_backward(dy, cache):
    normalized, inv, scale, axes = cache
    batch_axes = (0, *axes)
    dscale = np.sum(dy * normalized, axis=batch_axes)
    doffset = np.sum(dy, axis=batch_axes)
    dn = dy * scale
    dx = inv * (
        dn
        - dn.mean(axis=axes, keepdims=True)
        - normalized * (dn * normalized).mean(axis=axes, keepdims=True)
    )
    return dx, dscale, doffset
