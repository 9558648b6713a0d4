"""snt.BatchNorm in Sonnet 1's style (TF1), in NumPy.

The module is built at its first connection: `_build(input_batch, is_training,
test_local_stats=True)`, reached through __call__. Variables are created then, sized from
the input. As in Sonnet 1, is_training=False is NOT enough to normalize with the moving
averages: test_local_stats=True (the default) still uses the batch's own statistics, and
only is_training=False with test_local_stats=False uses moving_mean / moving_variance.
moving = decay_rate * moving + (1 - decay_rate) * batch, biased variance. offset (beta) is
on by default, scale (gamma) off; update_ops_collection=None runs the updates in place.
"""

import numpy as np


class AbstractModule:
    def __init__(self, name):
        self.module_name = name
        self.is_connected = False

    def __call__(self, *args, **kwargs):
        out = self._build(*args, **kwargs)
        self.is_connected = True
        return out


class BatchNorm(AbstractModule):
    GAMMA = "gamma"
    BETA = "beta"
    MOVING_MEAN = "moving_mean"
    MOVING_VARIANCE = "moving_variance"

    def __init__(
        self,
        axis=None,
        offset=True,
        scale=False,
        decay_rate=0.999,
        eps=1e-3,
        update_ops_collection="update_ops",
        name="batch_norm",
    ):
        super().__init__(name)
        self._axis = axis
        self._offset = offset
        self._scale = scale
        self._decay_rate = decay_rate
        self._eps = eps
        self._update_ops_collection = update_ops_collection
        self._pending_updates = []

    def _build_variables(self, size):
        self._moving_mean = np.zeros(size)
        self._moving_variance = np.ones(size)
        self._beta = np.zeros(size) if self._offset else None
        self._gamma = np.ones(size) if self._scale else None

    def _build(self, input_batch, is_training, test_local_stats=True):
        x = input_batch.astype(np.float64)
        axis = self._axis
        if axis is None:
            axis = [0, *range(2, x.ndim)]  # every axis but the channel axis 1 (NCHW)
        axis = tuple(axis)
        shape = [1, -1] + [1] * (x.ndim - 2)
        if not self.is_connected:
            self._build_variables(x.shape[1])
        use_batch_stats = is_training or test_local_stats
        if use_batch_stats:
            mean = x.mean(axis=axis)
            variance = ((x - mean.reshape(shape)) ** 2).mean(axis=axis)
        else:
            mean, variance = self._moving_mean, self._moving_variance
        if is_training:
            d = self._decay_rate
            new_mean = d * self._moving_mean + (1 - d) * mean
            new_var = d * self._moving_variance + (1 - d) * variance
            if self._update_ops_collection is None:
                self._moving_mean, self._moving_variance = new_mean, new_var
            else:
                self._pending_updates.append((new_mean, new_var))
        inv = 1.0 / np.sqrt(variance + self._eps)
        x_hat = (x - mean.reshape(shape)) * inv.reshape(shape)
        gamma = self._gamma if self._gamma is not None else np.ones_like(inv)
        beta = self._beta if self._beta is not None else np.zeros_like(inv)
        self._ctx = (axis, shape, x_hat, inv, gamma, use_batch_stats)
        return (x_hat * gamma.reshape(shape) + beta.reshape(shape)).astype(input_batch.dtype)

    def backward(self, grad_output):
        axis, shape, x_hat, inv, gamma, use_batch_stats = self._ctx
        g = grad_output.astype(np.float64)
        self.grads = {}
        if self._gamma is not None:
            self.grads[self.GAMMA] = (g * x_hat).sum(axis=axis)
        if self._beta is not None:
            self.grads[self.BETA] = g.sum(axis=axis)
        if use_batch_stats:
            g = (
                g
                - g.mean(axis=axis, keepdims=True)
                - x_hat * (g * x_hat).mean(axis=axis, keepdims=True)
            )
        return (g * (gamma * inv).reshape(shape)).astype(grad_output.dtype)
