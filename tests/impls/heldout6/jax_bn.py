"""Pure JAX batch norm as init / apply / vjp; the running state is a frozen dataclass that apply
returns updated; the vjp recomputes the forward with jax.vjp. PyTorch convention."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


@dataclass(frozen=True)
class BNState:
    mean: jax.Array
    var: jax.Array


def init(num_features):
    params = {"scale": jnp.ones(num_features), "bias": jnp.zeros(num_features)}
    return params, BNState(jnp.zeros(num_features), jnp.ones(num_features))


def apply(params, state, x, train=True, eps=1e-5, momentum=0.1):
    axes = (0, *range(2, x.ndim))
    sh = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(jnp.float64)
    if train:
        mu = xd.mean(axis=axes)
        var = jnp.square(xd - mu.reshape(sh)).mean(axis=axes)
        n = x.size // x.shape[1]
        new = BNState(
            (1 - momentum) * state.mean + momentum * mu,
            (1 - momentum) * state.var + momentum * var * (n / (n - 1)),
        )
    else:
        mu, var, new = state.mean, state.var, state
    xhat = (xd - mu.reshape(sh)) * jax.lax.rsqrt(var.reshape(sh) + eps)
    y = xhat * params["scale"].reshape(sh) + params["bias"].reshape(sh)
    return y.astype(x.dtype), new


def vjp(params, state, x, dy, train=True):
    _, pullback = jax.vjp(lambda p, xx: apply(p, state, xx, train)[0], params, x)
    dparams, dx = pullback(dy)
    return dx, dparams
