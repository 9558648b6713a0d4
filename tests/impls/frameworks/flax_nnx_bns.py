"""Flax nnx BNs for tests/check/test_verify_frameworks.py: an instance (correct) and a subclass
with one mistake."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

#: an instance with 4 channels and the two-pass variance: correct
two_pass = nnx.BatchNorm(4, use_fast_variance=False, rngs=nnx.Rngs(0))


class EpsOutsideSqrtBN(nnx.BatchNorm):
    """nnx.BatchNorm's state, its own __call__: divides by sqrt(var) + eps. Named
    eps-outside-sqrt."""

    def __call__(self, x: Any, use_running_average: bool | None = None, **_: Any) -> Any:
        frozen = self.use_running_average if use_running_average is None else use_running_average
        axes = tuple(range(x.ndim - 1))
        if frozen:
            mean, var = self.mean[...], self.var[...]
        else:
            mean = x.mean(axes)
            var = ((x - mean) ** 2).mean(axes)
            m = self.momentum
            self.mean[...] = jax.lax.stop_gradient(m * self.mean[...] + (1 - m) * mean)
            self.var[...] = jax.lax.stop_gradient(m * self.var[...] + (1 - m) * var)
        y = (x - mean) / (jax.numpy.sqrt(var) + self.epsilon)  # the mistake
        return y * self.scale[...] + self.bias[...]
