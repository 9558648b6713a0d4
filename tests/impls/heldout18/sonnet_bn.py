"""Sonnet-v1-flavoured BN module on NumPy: built without a size (variables are created at the
first connection, `_build`), called as `bn(inputs, is_training, test_local_stats=False)`;
`is_training` is a REQUIRED positional argument. Moving averages `moving_mean` /
`moving_variance` with `decay_rate=0.999` on the old value and the biased batch variance
(Keras-type convention, momentum 0.999), eps 1e-3. Parameters `beta` / `gamma`.
`backward(dy) -> (dx, dgamma, dbeta)` for the last connection (the TF graph's gradient).

With `is_training=False` and the default `test_local_stats=False` it normalizes by the moving
averages; `test_local_stats=True` would use the batch statistics at test time (Sonnet's
option), off here.

No planted mistake.
"""

import numpy as np


class BatchNorm:
    def __init__(
        self, axis=None, offset=True, scale=True, decay_rate=0.999, eps=1e-3, name="batch_norm"
    ):
        self._axis = axis
        self._offset = offset
        self._scale = scale
        self._decay_rate = decay_rate
        self._eps = eps
        self.module_name = name
        self._built = False

    def _create_variables(self, channels):
        self.beta = np.zeros(channels)
        self.gamma = np.ones(channels)
        self.moving_mean = np.zeros(channels)
        self.moving_variance = np.ones(channels)
        self._built = True

    def _build(self, inputs, is_training, test_local_stats=False):
        reduce_axes = self._axis if self._axis is not None else (0, *tuple(range(2, inputs.ndim)))
        channels = inputs.shape[1]
        if not self._built:
            self._create_variables(channels)
        shape = (1, channels) + (1,) * (inputs.ndim - 2)
        x = inputs.astype(np.float64)
        use_batch = is_training or test_local_stats
        if use_batch:
            mean = x.mean(axis=reduce_axes)
            centred = x - mean.reshape(shape)
            variance = np.square(centred).mean(axis=reduce_axes)
        else:
            mean, variance = self.moving_mean, self.moving_variance
            centred = x - mean.reshape(shape)
        if is_training:
            d = self._decay_rate
            self.moving_mean = d * self.moving_mean + (1 - d) * mean
            self.moving_variance = d * self.moving_variance + (1 - d) * variance
        inv = 1.0 / np.sqrt(variance + self._eps)
        normed = centred * inv.reshape(shape)
        out = normed
        if self._scale:
            out = out * self.gamma.reshape(shape)
        if self._offset:
            out = out + self.beta.reshape(shape)
        self._last = (normed, inv, reduce_axes, shape, use_batch)
        return out.astype(inputs.dtype)

    def __call__(self, inputs, is_training, test_local_stats=False):
        return self._build(inputs, is_training, test_local_stats)

    def backward(self, dy):
        normed, inv, axes, shape, use_batch = self._last
        g = dy.astype(np.float64)
        dbeta = g.sum(axis=axes)
        dgamma = (g * normed).sum(axis=axes)
        scale = (self.gamma * inv).reshape(shape)
        if use_batch:
            m = g.size // dbeta.size
            dx = scale * (g - (dbeta.reshape(shape) + normed * dgamma.reshape(shape)) / m)
        else:
            dx = scale * g
        return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
