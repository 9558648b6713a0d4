"""Flax linen BNs for tests/check/test_verify_frameworks.py: a user's wrapper of nn.BatchNorm
(correct: a two-pass variance) and a subclass with one mistake."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class TwoPassBN(nn.Module):
    """A user's module around nn.BatchNorm, its mode a ``train`` argument; the two-pass
    variance (use_fast_variance=False) and momentum 0.9: correct."""

    @nn.compact
    def __call__(self, x: Any, train: bool = True) -> Any:
        bn = nn.BatchNorm(use_running_average=not train, momentum=0.9, use_fast_variance=False)
        return bn(x)


class NoMeanGradientBN(nn.BatchNorm):
    """nn.BatchNorm's variables and fields, its own __call__: the mean is behind
    ``jax.lax.stop_gradient`` (a common slip when the mean is meant to be a constant): dx lacks
    the path through mu_B. Named missing-mu-path."""

    @nn.compact
    def __call__(self, x: Any, use_running_average: bool | None = None, *, mask: Any = None) -> Any:
        frozen = nn.merge_param(
            "use_running_average", self.use_running_average, use_running_average
        )
        c = x.shape[-1]
        axes = tuple(range(x.ndim - 1))
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(c, jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones(c, jnp.float32))
        scale = self.param("scale", nn.initializers.ones, (c,), self.param_dtype)
        bias = self.param("bias", nn.initializers.zeros, (c,), self.param_dtype)
        if frozen:
            mean, var = ra_mean.value, ra_var.value
        else:
            mean = jax.lax.stop_gradient(x.mean(axes))  # the mistake
            var = ((x - x.mean(axes)) ** 2).mean(axes)
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


#: nn.BatchNorm configured by a user: channels first, the two-pass variance; correct
channels_first = nn.BatchNorm(axis=1, use_fast_variance=False)
