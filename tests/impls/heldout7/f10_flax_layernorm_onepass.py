"""A user's flax.linen LayerNorm over the last axis that takes its statistics "fast":
one pass over the data in float32.

BUG (planted): var = E[x^2] - E[x]^2 computed in float32 (catastrophic cancellation for
inputs with a large mean; float64 input loses its precision in the statistics).
"""

import flax.linen as nn
import jax.numpy as jnp


class FastLayerNorm(nn.Module):
    features: int
    eps: float = 1e-5

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (self.features,), x.dtype)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), x.dtype)
        x32 = x.astype(jnp.float32)
        mean = jnp.mean(x32, axis=-1, keepdims=True)
        mean_sq = jnp.mean(x32 * x32, axis=-1, keepdims=True)
        var = jnp.maximum(mean_sq - mean * mean, 0.0)
        inv = 1.0 / jnp.sqrt(var + self.eps)
        y = (x - mean.astype(x.dtype)) * inv.astype(x.dtype)
        return y * scale + bias
