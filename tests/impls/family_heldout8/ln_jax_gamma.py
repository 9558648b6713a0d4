"""LayerNorm (last axis) as a jax.custom_vjp: residuals-first backward, JAX's convention."""

import jax
import jax.numpy as jnp


def layer_norm_fwd(x, gamma, beta, eps=1e-5):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mean
    rstd = jax.lax.rsqrt(jnp.mean(xc * xc, axis=-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma)


def layer_norm_bwd(res, g):
    xhat, rstd, gamma = res
    lead = tuple(range(g.ndim - 1))
    dgamma = jnp.sum(g * xhat, axis=lead)
    dbeta = jnp.sum(g, axis=lead)
    gx = g * gamma
    dx = rstd * (
        gx
        - jnp.mean(gx, axis=-1, keepdims=True)
        - xhat * jnp.mean(g * xhat, axis=-1, keepdims=True)
    )
    return dx, dgamma, dbeta


@jax.custom_vjp
def layer_norm(x, gamma, beta):
    return layer_norm_fwd(x, gamma, beta)[0]


layer_norm.defvjp(layer_norm_fwd, layer_norm_bwd)
