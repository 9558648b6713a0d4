"""GroupNorm as an Equinox module (per-sample, vmapped over the batch), wrapped as a
forward/backward pair whose backward is the module's VJP."""

import equinox as eqx
import jax
import jax.numpy as jnp


class GroupNorm(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    groups: int = eqx.field(static=True)
    eps: float = eqx.field(static=True, default=1e-5)

    def __call__(self, x):  # x: (C, *spatial), one sample
        c = x.shape[0]
        xg = x.reshape(self.groups, -1)
        mean = jnp.mean(xg, axis=1, keepdims=True)
        var = jnp.mean(jnp.square(xg - mean), axis=1, keepdims=True)
        xg = (xg - mean) * jax.lax.rsqrt(var + self.eps)
        shape = (c,) + (1,) * (x.ndim - 1)
        return xg.reshape(x.shape) * self.weight.reshape(shape) + self.bias.reshape(shape)


@eqx.filter_jit
def _apply(norm, x):
    return jax.vmap(norm)(x)


@eqx.filter_jit
def _vjp(norm, x, g):
    _, pull = eqx.filter_vjp(_apply, norm, x)
    dnorm, dx = pull(g)
    return dx, dnorm.weight, dnorm.bias


def group_norm_fwd(x, weight, bias, groups, eps=1e-5):
    norm = GroupNorm(jnp.asarray(weight), jnp.asarray(bias), int(groups), float(eps))
    x = jnp.asarray(x)
    return _apply(norm, x), (norm, x)


def group_norm_bwd(res, g):
    norm, x = res
    return _vjp(norm, x, jnp.asarray(g))
