"""Hand-written flax.linen BN (channels-last) like flax_linen_bn.py, but training mode
normalizes with the UNBIASED batch variance (divides by n - 1); the running statistics are
as Flax's (biased variance)."""

import flax.linen as nn
import jax.numpy as jnp


class LinenBN(nn.Module):
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, use_running_average: bool = False):
        c = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, (c,), jnp.float32)
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        if use_running_average:
            mean, var = ra_mean.value, ra_var.value
        else:
            mean = x.mean(axes)
            n = x.size // c
            var = ((x - mean) ** 2).sum(axes) / (n - 1)
            if not self.is_initializing():
                m = self.momentum
                ra_mean.value = m * ra_mean.value + (1 - m) * mean
                ra_var.value = m * ra_var.value + (1 - m) * var * (n - 1) / n
        y = (x - mean) / jnp.sqrt(var + self.epsilon)
        return (y * scale + bias).astype(x.dtype)
