"""Layer normalization in the style of TensorFlow 1's ``tf.contrib.layers.layer_norm``, as a
pair of NumPy functions, called as BERT calls it (``begin_norm_axis=-1,
begin_params_axis=-1``: each row normalized over its last axis, one gamma and beta per
feature).

The moments are taken over the axes ``begin_norm_axis`` .. last; ``gamma`` and ``beta`` have
the shape ``inputs.shape[begin_params_axis:]``. ``layer_norm_forward`` returns
``(outputs, cache)``; ``layer_norm_backward(grad_outputs, cache)`` returns
``(d_inputs, d_gamma, d_beta)``.
"""

import numpy as np


def _axes(ndim, begin):
    begin = begin % ndim
    if begin == 0:
        raise ValueError("begin_norm_axis must leave the batch axis out")
    return tuple(range(begin, ndim))


def _moments(x, axes):
    # one pass over the data, in float32, as a fused GPU moments kernel keeps its sums
    x32 = x.astype(np.float32)
    mean = x32.mean(axis=axes, keepdims=True, dtype=np.float32)
    mean_sq = (x32 * x32).mean(axis=axes, keepdims=True, dtype=np.float32)
    variance = np.maximum(mean_sq - mean * mean, np.float32(0.0))
    return mean.astype(np.float64), variance.astype(np.float64)


def layer_norm_forward(
    inputs, gamma, beta, begin_norm_axis=-1, begin_params_axis=-1, epsilon=1e-12
):
    ndim = inputs.ndim
    norm_axes = _axes(ndim, begin_norm_axis)
    params_shape = inputs.shape[begin_params_axis % ndim :]
    gamma64 = np.asarray(gamma, dtype=np.float64).reshape(params_shape)
    beta64 = np.asarray(beta, dtype=np.float64).reshape(params_shape)
    x = np.asarray(inputs, dtype=np.float64)
    mean, variance = _moments(x, norm_axes)
    inv = 1.0 / np.sqrt(variance + epsilon)
    normed = (x - mean) * inv
    outputs = normed * gamma64 + beta64
    cache = (normed, inv, gamma64, norm_axes, begin_params_axis % ndim, np.shape(gamma))
    return outputs.astype(inputs.dtype), cache


def layer_norm_backward(grad_outputs, cache):
    normed, inv, gamma64, norm_axes, params_begin, gamma_shape = cache
    dtype = grad_outputs.dtype
    dy = np.asarray(grad_outputs, dtype=np.float64)
    lead = tuple(range(params_begin))
    d_gamma = (dy * normed).sum(axis=lead).reshape(gamma_shape)
    d_beta = dy.sum(axis=lead).reshape(gamma_shape)
    g = dy * gamma64
    d_inputs = inv * (
        g
        - g.mean(axis=norm_axes, keepdims=True)
        - normed * (g * normed).mean(axis=norm_axes, keepdims=True)
    )
    return d_inputs.astype(dtype), d_gamma.astype(dtype), d_beta.astype(dtype)
