"""An Equinox GroupNorm written by hand: the per-sample function is vmapped over the batch."""

import equinox as eqx
import jax
import jax.numpy as jnp


class GroupNorm(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    groups: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, channels, groups=2, eps=1e-5):
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        self.weight = jnp.ones(channels)
        self.bias = jnp.zeros(channels)
        self.groups = groups
        self.eps = eps

    def _one(self, x):  # x: (C, *spatial)
        c = x.shape[0]
        xg = x.reshape(self.groups, -1)
        mu = xg.mean(axis=1, keepdims=True)
        var = jnp.mean((xg - mu) ** 2, axis=1, keepdims=True)
        xhat = ((xg - mu) / jnp.sqrt(var + self.eps)).reshape(x.shape)
        shape = (c,) + (1,) * (x.ndim - 1)
        return xhat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def __call__(self, x):
        return jax.vmap(self._one)(x)
