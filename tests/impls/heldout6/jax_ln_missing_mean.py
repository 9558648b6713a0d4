"""LayerNorm over the last axis in jax.numpy with a hand-written backward.
BUG: the backward drops the path through the mean (the - mean(dxhat) term)."""

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def ln_forward(x, gamma, beta, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    rstd = jax.lax.rsqrt(jnp.mean(xc * xc, axis=-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma)


def ln_backward(dy, cache):
    xhat, rstd, gamma = cache
    lead = tuple(range(dy.ndim - 1))
    dgamma = jnp.sum(dy * xhat, axis=lead)
    dbeta = jnp.sum(dy, axis=lead)
    dxhat = dy * gamma
    dx = rstd * (dxhat - xhat * jnp.mean(dxhat * xhat, axis=-1, keepdims=True))  # BUG: no mean term
    return dx, dgamma, dbeta
