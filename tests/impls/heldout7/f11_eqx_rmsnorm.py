"""An Equinox RMSNorm written by a user: an eqx.Module over the last axis with a learnt
weight, called on a whole batch. Correct.
"""

import equinox as eqx
import jax
import jax.numpy as jnp


class RMSNorm(eqx.Module):
    weight: jax.Array
    eps: float = eqx.field(static=True)

    def __init__(self, dim, eps=1e-6):
        self.weight = jnp.ones((dim,))
        self.eps = eps

    def __call__(self, x):
        ms = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
        return x * jax.lax.rsqrt(ms + self.eps) * self.weight.astype(x.dtype)
