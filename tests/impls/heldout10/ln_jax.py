"""LayerNorm over the last axis in JAX; the backward is jax.vjp of the forward."""

import jax
import jax.numpy as jnp


def _ln(x, gamma, beta, eps):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * gamma + beta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    y, vjp = jax.vjp(lambda a, g, b: _ln(a, g, b, eps), x, gamma, beta)
    return y, vjp


def layernorm_backward(dy, cache):
    return cache(dy)
