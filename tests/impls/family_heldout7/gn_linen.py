"""A hand-written Flax linen GroupNorm (channels last, as linen lays out images), with the
UNet default of 32 groups; scale and bias per channel."""

import flax.linen as nn
import jax.numpy as jnp


class GroupNorm32(nn.Module):
    num_groups: int = 32
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        g = self.num_groups
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        xg = x.reshape((*x.shape[:-1], g, c // g))
        axes = (*tuple(range(1, x.ndim - 1)), x.ndim)
        mean = jnp.mean(xg, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(xg - mean), axis=axes, keepdims=True)
        y = ((xg - mean) / jnp.sqrt(var + self.epsilon)).reshape(x.shape)
        return y * scale.astype(x.dtype) + bias.astype(x.dtype)
