"""Hand-written flax.nnx BN (channels-last): nnx.Param scale/bias, nnx.BatchStat running
pair, `use_running_average` attribute switched by model.train() / model.eval(). Momentum
0.9 on the old value, biased running variance, two-pass variance. Correct."""

import jax.numpy as jnp
from flax import nnx


class NnxBN(nnx.Module):
    def __init__(self, num_features, *, epsilon=1e-5, momentum=0.9, rngs=None):
        self.scale = nnx.Param(jnp.ones(num_features))
        self.bias = nnx.Param(jnp.zeros(num_features))
        self.mean = nnx.BatchStat(jnp.zeros(num_features))
        self.var = nnx.BatchStat(jnp.ones(num_features))
        self.epsilon, self.momentum = epsilon, momentum
        self.use_running_average = False

    def __call__(self, x):
        axes = tuple(range(x.ndim - 1))
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            mean = x.mean(axes)
            var = ((x - mean) ** 2).mean(axes)
            m = self.momentum
            self.mean[...] = m * self.mean[...] + (1 - m) * mean
            self.var[...] = m * self.var[...] + (1 - m) * var
        y = (x - mean) / jnp.sqrt(var + self.epsilon)
        return (y * self.scale[...] + self.bias[...]).astype(x.dtype)
