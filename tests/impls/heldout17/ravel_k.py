"""BN function pair with a "zero-copy" statistics path.  PLANTED BUG only on input that is
not C-contiguous.

Style: performance-minded NumPy that avoids copies: the statistics are taken from
`x.ravel(order="K")` viewed as (N, C, rest), "K" chosen so that ravel never copies, then
reduced over axes 0 and 2.  Channels on axis 1, any rank; x_hat is formed from x itself.

The one bug: ravel(order="K") returns the elements in *memory* order, which is the (N, C,
...) row-major order only when x is laid out row-major (NumPy undoes negative strides, so a
fully reversed view still comes out in row-major order).  For a Fortran-ordered, transposed
(channel-major) or channels-last input the flattened values are re-grouped into the wrong
channels, so the mean and variance (and y, dx and dgamma after them) are wrong.
C-contiguous input, a positive-stride slice of it and a reversed view are right.

    bncheck verify ravel_k.py
"""

import numpy as np


def fast_forward(x, gamma, beta, eps=1e-5):
    N, C = x.shape[:2]
    flat = x.ravel(order="K").reshape(N, C, -1)  # BUG: memory order, not row-major
    mean = flat.mean(axis=(0, 2))
    var = flat.var(axis=(0, 2))
    inv = 1.0 / np.sqrt(var + eps)
    shp = (1, C) + (1,) * (x.ndim - 2)
    xhat = (x - mean.reshape(shp)) * inv.reshape(shp)
    y = gamma.reshape(shp) * xhat + beta.reshape(shp)
    return y, (xhat, inv.reshape(shp), gamma.reshape(shp))


def fast_backward(dout, cache):
    xhat, inv, gamma = cache
    axes = (0, *range(2, dout.ndim))
    M = dout.size // dout.shape[1]
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    g = dout * gamma
    dx = inv * (
        g
        - g.sum(axis=axes, keepdims=True) / M
        - xhat * (g * xhat).sum(axis=axes, keepdims=True) / M
    )
    return dx, dgamma, dbeta
