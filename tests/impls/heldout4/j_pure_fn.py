"""BatchNorm as pure JAX functions: init/apply with state in and out, gradients by jax.vjp."""

import jax
import jax.numpy as jnp


def init(num_features):
    params = {"scale": jnp.ones((num_features,)), "offset": jnp.zeros((num_features,))}
    state = {"mean": jnp.zeros((num_features,)), "var": jnp.ones((num_features,))}
    return params, state


def _bcast(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def apply(params, state, x, *, train=True, momentum=0.1, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    if train:
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(jnp.square(x - _bcast(mean, x.ndim)), axis=axes)
        n = x.size // x.shape[1]
        new_state = {
            "mean": (1 - momentum) * state["mean"] + momentum * mean,
            "var": (1 - momentum) * state["var"] + momentum * var * (n / (n - 1)),
        }
    else:
        mean, var = state["mean"], state["var"]
        new_state = state
    x_hat = (x - _bcast(mean, x.ndim)) * jax.lax.rsqrt(_bcast(var, x.ndim) + eps)
    y = x_hat * _bcast(params["scale"], x.ndim) + _bcast(params["offset"], x.ndim)
    return y, new_state


def vjp(params, state, x, dy, *, train=True):
    def f(p, inp):
        return apply(p, state, inp, train=train)[0]

    _, pullback = jax.vjp(f, params, x)
    dparams, dx = pullback(dy)
    return dx, dparams
