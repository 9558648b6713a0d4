"""cs231n-style spatial group norm: ``spatial_groupnorm_forward(x, gamma, beta, G, gn_param)``
on (N, C, H, W) with gamma and beta of shape (1, C, 1, 1), and
``spatial_groupnorm_backward(dout, cache)`` returning ``(dx, dgamma, dbeta)``.

The backward works on the (N, G, C // G, H, W) view throughout. dx and dbeta are right.

PLANTED BUG (one): dgamma is summed over the wrong axes: over (0, 2, 3, 4) of the grouped
view, which adds the channels of a group together, and the per-group sums are then broadcast
back to every channel of the group to get the (1, C, 1, 1) shape.
"""

import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mu = xg.mean(axis=(2, 3, 4), keepdims=True)
    var = xg.var(axis=(2, 3, 4), keepdims=True)
    istd = 1.0 / np.sqrt(var + eps)
    xhat_g = (xg - mu) * istd
    xhat = xhat_g.reshape(N, C, H, W)
    out = gamma * xhat + beta
    cache = (xhat_g, istd, gamma, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    xhat_g, istd, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dout_g = dout.reshape(N, G, C // G, H, W)
    dgamma_g = (dout_g * xhat_g).sum(axis=(0, 2, 3, 4))
    dgamma = np.repeat(dgamma_g, C // G).reshape(1, C, 1, 1).astype(dout.dtype)
    dxhat = (dout * gamma).reshape(N, G, C // G, H, W)
    axes = (2, 3, 4)
    dx_g = istd * (
        dxhat
        - dxhat.mean(axis=axes, keepdims=True)
        - xhat_g * (dxhat * xhat_g).mean(axis=axes, keepdims=True)
    )
    return dx_g.reshape(N, C, H, W), dgamma, dbeta
