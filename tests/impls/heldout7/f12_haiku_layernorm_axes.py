"""A LayerNorm written inside a Haiku function (hk.transform), parameters from
hk.get_parameter.

BUG (planted): copy-paste slip, the variance is reduced over the last TWO axes while the
mean (correctly) uses only the last one.
"""

import haiku as hk
import jax.numpy as jnp


def _layer_norm(x):
    d = x.shape[-1]
    scale = hk.get_parameter("scale", (d,), x.dtype, init=jnp.ones)
    offset = hk.get_parameter("offset", (d,), x.dtype, init=jnp.zeros)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(-2, -1), keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * scale + offset


layernorm = hk.without_apply_rng(hk.transform(_layer_norm))
