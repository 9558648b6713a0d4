"""Train-mode BatchNorm as JAX functions: bn_forward, and bn_backward by jax.vjp."""

import jax
import jax.numpy as jnp


def bn_forward(params, x, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    std = jnp.std(x, axis=axes, keepdims=True)
    x_hat = (x - mean) / (std + eps)
    return params["gamma"].reshape(shape) * x_hat + params["beta"].reshape(shape)


def bn_backward(params, x, dy, eps=1e-5):
    _, pullback = jax.vjp(lambda p, xx: bn_forward(p, xx, eps), params, x)
    dparams, dx = pullback(dy)
    return dx, dparams["gamma"], dparams["beta"]
