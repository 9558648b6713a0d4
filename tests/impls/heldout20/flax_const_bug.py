"""A hand-written flax.linen batch normalization (as c_flax.py: channels last,
`use_running_average` field merged with the call's argument, `batch_stats` mean/var, momentum
0.99 on the old value, biased, epsilon 1e-5) that guards constant channels: where every value
of a channel is the same, x_hat is set to 0 outright ("no NaN, no noise from the rounding of
the mean") with `jnp.where`.
"""

import flax.linen as nn
import jax.numpy as jnp


class BatchNorm(nn.Module):
    use_running_average: bool | None = None
    momentum: float = 0.99
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, use_running_average: bool | None = None):
        use_ra = nn.merge_param(
            "use_running_average", self.use_running_average, use_running_average
        )
        c = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), x.dtype))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), x.dtype))
        scale = self.param("scale", lambda k, s: jnp.ones(s, x.dtype), (c,))
        bias = self.param("bias", lambda k, s: jnp.zeros(s, x.dtype), (c,))
        if use_ra:
            mean, var = ra_mean.value, ra_var.value
            x_hat = (x - mean) * (1.0 / jnp.sqrt(var + self.epsilon))
        else:
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
            constant = jnp.max(x, axis=axes) == jnp.min(x, axis=axes)
            x_hat = jnp.where(constant, 0.0, (x - mean) * (1.0 / jnp.sqrt(var + self.epsilon)))
        return (x_hat * scale + bias).astype(x.dtype)
