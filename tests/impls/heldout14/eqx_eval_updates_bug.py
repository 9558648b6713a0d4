"""An Equinox BN over a whole batch (N, C, ...) with its running pair in eqx.nn.State and an
`inference` field that eqx.nn.inference_mode(model) flips, as Equinox's own layers have.
`model(x, state) -> (y, state)`. PyTorch convention (momentum 0.1, unbiased running variance),
eps 1e-5.

PLANTED MISTAKE: the running update was moved out of the training branch, so an inference call
also moves the running pair towards its batch (it returns a changed state). The inference
output itself uses the pair as it was before the call and is right; training, the gradients
and the running statistics of training calls are right.
"""

import equinox as eqx
import jax
import jax.numpy as jnp


class EqxBN(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    stats: eqx.nn.StateIndex
    inference: bool
    eps: float = eqx.field(static=True)
    momentum: float = eqx.field(static=True)

    def __init__(self, channels, eps=1e-5, momentum=0.1, inference=False):
        self.weight = jnp.ones((channels,))
        self.bias = jnp.zeros((channels,))
        self.stats = eqx.nn.StateIndex((jnp.zeros((channels,)), jnp.ones((channels,))))
        self.inference = inference
        self.eps = eps
        self.momentum = momentum

    def __call__(self, x, state):
        axes = (0, *tuple(range(2, x.ndim)))
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        r_mean, r_var = state.get(self.stats)
        b_mean = jnp.mean(x, axis=axes)
        b_var = jnp.mean(jnp.square(x - b_mean.reshape(bshape)), axis=axes)
        if self.inference:
            mean, var = r_mean, r_var
        else:
            mean, var = b_mean, b_var
        n = x.size // x.shape[1]
        k = self.momentum
        state = state.set(
            self.stats, ((1 - k) * r_mean + k * b_mean, (1 - k) * r_var + k * b_var * n / (n - 1))
        )
        y = (x - mean.reshape(bshape)) / jnp.sqrt(var.reshape(bshape) + self.eps)
        return y * self.weight.reshape(bshape) + self.bias.reshape(bshape), state
