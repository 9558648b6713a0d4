"""A channels-last BatchNorm written as a flax.linen Module (batch_stats collection)."""

import jax.numpy as jnp
from flax import linen as nn


class MyBatchNorm(nn.Module):
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, train: bool = True):
        features = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        scale = self.param("scale", nn.initializers.ones, (features,))
        bias = self.param("bias", nn.initializers.zeros, (features,))
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,)))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,)))
        if train:
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        else:
            mean, var = ra_mean.value, ra_var.value
        return (x - mean) / jnp.sqrt(var + self.epsilon) * scale + bias
