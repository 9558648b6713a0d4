"""Gemma-style RMSNorm in JAX as a forward/backward pair.

The scale is stored zero-centred and applied as ``1 + scale``; statistics are taken in at
least float32. ``rmsnorm_fwd`` returns ``(y, residuals)``; ``rmsnorm_bwd(res, g)`` follows
``jax.custom_vjp``'s order and returns ``(dx, dscale)``.
"""

import jax
import jax.numpy as jnp


def _acc_dtype(dtype):
    return jnp.promote_types(dtype, jnp.float32)


def rmsnorm_fwd(x, scale, eps=1e-6):
    acc = _acc_dtype(x.dtype)
    xf = x.astype(acc)
    ms = jnp.mean(xf * xf, axis=-1, keepdims=True)
    inv = jax.lax.rsqrt(ms + eps)
    normed = xf * inv
    y = normed * (1.0 + scale.astype(acc))
    return y.astype(x.dtype), (normed, inv, scale)


def rmsnorm_bwd(res, g):
    normed, inv, scale = res
    acc = normed.dtype
    gf = g.astype(acc)
    lead = tuple(range(gf.ndim - 1))
    dscale = jnp.sum(gf * normed, axis=lead)
    gs = gf * (1.0 + scale.astype(acc))
    proj = jnp.mean(gs * normed, axis=-1, keepdims=True)
    dx = inv * (gs - normed * proj)
    return dx.astype(g.dtype), dscale.astype(scale.dtype)


@jax.custom_vjp
def rms_norm(x, scale, eps=1e-6):
    return rmsnorm_fwd(x, scale, eps)[0]


def _fwd(x, scale, eps):
    y, res = rmsnorm_fwd(x, scale, eps)
    return y, res


def _bwd(res, g):
    dx, dscale = rmsnorm_bwd(res, g)
    return dx, dscale, None


rms_norm.defvjp(_fwd, _bwd)
