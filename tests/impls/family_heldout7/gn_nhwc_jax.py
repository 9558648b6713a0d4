"""Channels-last GroupNorm in JAX (NHWC, as TF/Flax lay out images). The forward returns
``(y, vjp_fn)``: the cache is the closure ``jax.vjp`` gives back, and the backward calls it."""

import jax
import jax.numpy as jnp


def _group_norm(x, scale, bias, num_groups, eps):
    shape = x.shape
    c = shape[-1]
    xg = x.reshape(shape[0], -1, num_groups, c // num_groups)
    axes = (1, 3)
    mean = jnp.mean(xg, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xg - mean), axis=axes, keepdims=True)
    xhat = ((xg - mean) * jax.lax.rsqrt(var + eps)).reshape(shape)
    return xhat * scale + bias


def group_norm_forward(x, scale, bias, num_groups, eps=1e-5):
    def f(x_, s_, b_):
        return _group_norm(x_, s_, b_, num_groups, eps)

    y, vjp_fn = jax.vjp(f, x, scale, bias)
    return y, vjp_fn


def group_norm_backward(dy, cache):
    dx, dscale, dbias = cache(dy)
    return dx, dscale, dbias
