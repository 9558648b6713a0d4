"""A BN as pure JAX functions, as JAX code writes it: ``init`` makes (params, state) records of
JAX arrays, ``apply(params, state, x, *, train)`` returns (y, new_state), and ``vjp`` takes its
gradients with ``jax.vjp`` (no hand-written backward, no eps parameter: both use apply's
default). ``grads_as_jax`` returns the backward's arrays as JAX arrays, not NumPy."""

import jax
import jax.numpy as jnp


def init(num_features):
    params = {"scale": jnp.ones((num_features,)), "offset": jnp.zeros((num_features,))}
    return params, {"mean": jnp.zeros((num_features,)), "var": jnp.ones((num_features,))}


def _b(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def apply(params, state, x, *, train=True, momentum=0.1, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    if train:
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(jnp.square(x - _b(mean, x.ndim)), axis=axes)
        n = x.size // x.shape[1]
        state = {
            "mean": (1 - momentum) * state["mean"] + momentum * mean,
            "var": (1 - momentum) * state["var"] + momentum * var * (n / (n - 1)),
        }
        stats = (mean, var)
    else:
        stats = (state["mean"], state["var"])
    x_hat = (x - _b(stats[0], x.ndim)) * jax.lax.rsqrt(_b(stats[1], x.ndim) + eps)
    return x_hat * _b(params["scale"], x.ndim) + _b(params["offset"], x.ndim), state


def vjp(params, state, x, dy):
    _, pullback = jax.vjp(lambda p, inp: apply(p, state, inp)[0], params, x)
    dparams, dx = pullback(dy)
    return dx, dparams
