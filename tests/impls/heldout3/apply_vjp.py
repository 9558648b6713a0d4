"""A functional BN in the style of JAX-era code: ``bn_init`` makes the records, ``bn_apply``
runs the layer and returns the new state, ``bn_vjp`` recomputes everything from the inputs
(no cache) and returns the gradients as (param_grads, dx). PyTorch momentum (0.1), unbiased
running variance, channels on axis 1. Correct.
"""

import numpy as np


def bn_init(num_features, dtype=np.float32):
    params = {"scale": np.ones(num_features, dtype), "bias": np.zeros(num_features, dtype)}
    state = {"mean": np.zeros(num_features, dtype), "var": np.ones(num_features, dtype)}
    return params, state


def _reduce_axes(x):
    return (0, *range(2, x.ndim))


def _bcast(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def bn_apply(params, state, x, training, momentum=0.1, eps=1e-5):
    axes = _reduce_axes(x)
    if training:
        mean = x.mean(axis=axes)
        var = ((x - _bcast(mean, x)) ** 2).mean(axis=axes)
        n = x.size // x.shape[1]
        new_state = {
            "mean": (1 - momentum) * state["mean"] + momentum * mean,
            "var": (1 - momentum) * state["var"] + momentum * var * (n / (n - 1)),
        }
    else:
        mean, var = state["mean"].astype(x.dtype), state["var"].astype(x.dtype)
        new_state = state
    x_hat = (x - _bcast(mean, x)) / np.sqrt(_bcast(var, x) + eps)
    y = _bcast(params["scale"], x) * x_hat + _bcast(params["bias"], x)
    return y.astype(x.dtype), new_state


def bn_vjp(params, state, x, dy, eps=1e-5):
    """Gradients of the training-mode output; recomputes the batch statistics from x."""
    axes = _reduce_axes(x)
    mean = x.mean(axis=axes)
    var = ((x - _bcast(mean, x)) ** 2).mean(axis=axes)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - _bcast(mean, x)) * _bcast(inv_std, x)
    d_scale = (dy * x_hat).sum(axis=axes)
    d_bias = dy.sum(axis=axes)
    g = dy * _bcast(params["scale"], x)
    dx = _bcast(inv_std, x) * (
        g - _bcast(g.mean(axis=axes), x) - x_hat * _bcast((g * x_hat).mean(axis=axes), x)
    )
    grads = {"scale": d_scale.astype(x.dtype), "bias": d_bias.astype(x.dtype)}
    return grads, dx.astype(x.dtype)
