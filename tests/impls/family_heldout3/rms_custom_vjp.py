"""RMSNorm in JAX with a custom VJP (fwd/bwd in JAX's own convention: bwd(residuals, g))."""

import jax
import jax.numpy as jnp

EPS = 1e-6


def rms_fwd(x, weight):
    inv = jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + EPS)
    xhat = x * inv
    return xhat * weight, (xhat, inv, weight)


def rms_bwd(res, g):
    xhat, inv, weight = res
    gw = g * weight
    dx = inv * (gw - xhat * jnp.mean(gw * xhat, axis=-1, keepdims=True))
    dweight = jnp.sum((g * xhat).reshape(-1, g.shape[-1]), axis=0)
    return dx, dweight


@jax.custom_vjp
def rmsnorm(x, weight):
    return rms_fwd(x, weight)[0]


rmsnorm.defvjp(rms_fwd, rms_bwd)
