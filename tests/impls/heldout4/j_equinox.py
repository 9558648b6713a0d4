"""An Equinox module holding its running statistics in an eqx.nn.State."""

import equinox as eqx
import jax
import jax.numpy as jnp


class EqxBatchNorm(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    state_index: eqx.nn.StateIndex
    eps: float = eqx.field(static=True)
    momentum: float = eqx.field(static=True)

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.weight = jnp.ones((num_features,))
        self.bias = jnp.zeros((num_features,))
        self.state_index = eqx.nn.StateIndex(
            (jnp.zeros((num_features,)), jnp.ones((num_features,)))
        )
        self.eps = eps
        self.momentum = momentum

    def __call__(self, x, state, *, inference=False):
        # x: a whole batch (N, C, ...)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0, *range(2, x.ndim))
        running_mean, running_var = state.get(self.state_index)
        if inference:
            mean, var = running_mean, running_var
        else:
            mean = x.mean(axis=axes)
            var = jnp.var(x, axis=axes)
            n = x.size // x.shape[1]
            m = self.momentum
            state = state.set(
                self.state_index,
                ((1 - m) * running_mean + m * mean, (1 - m) * running_var + m * var * n / (n - 1)),
            )
        y = (x - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + self.eps)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape), state
