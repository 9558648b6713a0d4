"""LayerNorm module of a Flax (linen) vision transformer, written out by hand."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class LayerNorm(nn.Module):
    epsilon: float = 1e-6
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        features = x.shape[-1]
        mean = jnp.mean(x, axis=-1, keepdims=True)
        centred = x - mean
        var = jnp.mean(centred * centred, axis=-1, keepdims=True)
        y = centred * jax.lax.rsqrt(var + self.epsilon)
        y = y * self.param("scale", nn.initializers.ones, (features,))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (features,))
        return y
