"""Hand-written hk.Module BN (channels-last) with hk.get_parameter / hk.get_state /
hk.set_state, transformed with hk.transform_with_state. Momentum 0.9 on the old value,
biased running variance, no zero-debiasing. Correct."""

import haiku as hk
import jax.numpy as jnp


class HandBN(hk.Module):
    def __init__(self, momentum=0.9, eps=1e-5, name=None):
        super().__init__(name=name)
        self.momentum, self.eps = momentum, eps

    def __call__(self, x, is_training):
        c = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        scale = hk.get_parameter("scale", (c,), init=jnp.ones)
        offset = hk.get_parameter("offset", (c,), init=jnp.zeros)
        ra_mean = hk.get_state("mean", (c,), init=jnp.zeros)
        ra_var = hk.get_state("var", (c,), init=jnp.ones)
        if is_training:
            mean = x.mean(axes)
            var = ((x - mean) ** 2).mean(axes)
            m = self.momentum
            hk.set_state("mean", m * ra_mean + (1 - m) * mean)
            hk.set_state("var", m * ra_var + (1 - m) * var)
        else:
            mean, var = ra_mean, ra_var
        return ((x - mean) / jnp.sqrt(var + self.eps) * scale + offset).astype(x.dtype)


def _net(x, is_training=True):
    return HandBN()(x, is_training)


model = hk.without_apply_rng(hk.transform_with_state(_net))
