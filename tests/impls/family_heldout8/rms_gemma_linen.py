"""Gemma-style RMSNorm as a Flax linen module: the scale is stored as an offset from one."""

import jax
import jax.numpy as jnp
from flax import linen as nn


class RMSNorm(nn.Module):
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.zeros_init(), (x.shape[-1],))
        var = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
        normed = x * jax.lax.rsqrt(var + self.epsilon)
        return normed * (1 + scale)
