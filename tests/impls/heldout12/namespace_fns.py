"""A BN "layer" as a namespace of functions sharing a closure, as in functional from-scratch
code: `bn = make_bn(C)`, `bn.apply(x, training=False)` (Keras-style call: inference unless
told), `bn.grad(dy)` after a training call.  Keras conventions: moving averages with
momentum 0.99 on the old value, biased variance, epsilon 1e-3; channel axis 1."""

from types import SimpleNamespace

import numpy as np


def make_bn(channels, momentum=0.99, epsilon=1e-3):
    ns = SimpleNamespace(
        scale=np.ones(channels),
        center=np.zeros(channels),
        moving_mean=np.zeros(channels),
        moving_variance=np.ones(channels),
        epsilon=epsilon,
        momentum=momentum,
    )
    tape = {}

    def per_channel(v, ndim):
        return np.reshape(v, (1, channels) + (1,) * (ndim - 2))

    def apply(x, training=False):
        nd = x.ndim
        if not training:
            mu, var = ns.moving_mean, ns.moving_variance
        else:
            axes = (0,) + tuple(range(2, nd))
            mu = x.mean(axis=axes, dtype=np.float64)
            var = ((x - per_channel(mu, nd)) ** 2).mean(axis=axes, dtype=np.float64)
            ns.moving_mean = ns.moving_mean * ns.momentum + mu * (1.0 - ns.momentum)
            ns.moving_variance = ns.moving_variance * ns.momentum + var * (1.0 - ns.momentum)
        rstd = 1.0 / np.sqrt(var + ns.epsilon)
        xhat = (x - per_channel(mu, nd)) * per_channel(rstd, nd)
        if training:
            tape.update(xhat=xhat, rstd=rstd, axes=axes)
        return (per_channel(ns.scale, nd) * xhat + per_channel(ns.center, nd)).astype(x.dtype)

    def grad(dy):
        xhat, rstd, axes = tape["xhat"], tape["rstd"], tape["axes"]
        nd = dy.ndim
        d_center = dy.sum(axis=axes, dtype=np.float64)
        d_scale = (dy * xhat).sum(axis=axes)
        mean_dy = dy.mean(axis=axes, dtype=np.float64)
        mean_dyx = (dy * xhat).mean(axis=axes)
        dx = per_channel(ns.scale * rstd, nd) * (dy - per_channel(mean_dy, nd) - xhat * per_channel(mean_dyx, nd))
        return dx.astype(dy.dtype), d_scale, d_center

    ns.apply = apply
    ns.grad = grad
    return ns
