"""tf.contrib.layers.batch_norm in TF1's style, as a NumPy layer object.

The training forward normalizes with the batch moments and CREATES the two moving-average
update ops (closures). With updates_collections=UPDATE_OPS (the default, as in TF1) they are
added to the graph-wide collection and only run when the training step runs them:

    update_ops = get_collection(UPDATE_OPS)
    with control_dependencies(update_ops): train_op = ...

With updates_collections=None they run in place, before the output is returned.
moving = decay * moving + (1 - decay) * batch, biased variance (tf.nn.moments).
"""

import numpy as np

UPDATE_OPS = "update_ops"
_COLLECTIONS = {}


def get_collection(key):
    return list(_COLLECTIONS.get(key, []))


def add_to_collections(key, ops):
    _COLLECTIONS.setdefault(key, []).extend(ops)


def run_update_ops():
    """What `sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS))` does; clears them."""
    for op in _COLLECTIONS.pop(UPDATE_OPS, []):
        op()


def assign_moving_average(variable, value, decay):
    # variable -= (1 - decay) * (variable - value), in place like tf.assign_sub
    variable -= (1.0 - decay) * (variable - value)
    return variable


def moments(x, axes):
    mean = np.mean(x, axis=axes)
    shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
    variance = np.mean(np.square(x - mean.reshape(shape)), axis=axes)
    return mean, variance


class BatchNorm:
    def __init__(
        self,
        num_outputs,
        decay=0.999,
        center=True,
        scale=True,
        epsilon=0.001,
        updates_collections=UPDATE_OPS,
    ):
        self.decay = decay
        self.epsilon = epsilon
        self.updates_collections = updates_collections
        self.beta = np.zeros(num_outputs) if center else None
        self.gamma = np.ones(num_outputs) if scale else None
        self.moving_mean = np.zeros(num_outputs)
        self.moving_variance = np.ones(num_outputs)
        self.gradients = {}

    def __call__(self, inputs, is_training=True):
        x = inputs.astype(np.float64)
        axes = (0, *tuple(range(2, x.ndim)))
        shape = [1, -1] + [1] * (x.ndim - 2)
        if is_training:
            mean, variance = moments(x, axes)
            update_ops = []
            for variable, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                update_ops.append(lambda: assign_moving_average(variable, value, self.decay))  # noqa: B023
            if self.updates_collections is None:
                for op in update_ops:  # control_dependencies
                    op()
            else:
                add_to_collections(self.updates_collections, update_ops)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        inv = 1.0 / np.sqrt(variance + self.epsilon)
        x_hat = (x - mean.reshape(shape)) * inv.reshape(shape)
        gamma = self.gamma if self.gamma is not None else np.ones_like(inv)
        beta = self.beta if self.beta is not None else np.zeros_like(inv)
        self._saved = (axes, shape, x_hat, inv, gamma, is_training)
        return (x_hat * gamma.reshape(shape) + beta.reshape(shape)).astype(inputs.dtype)

    def gradient(self, grad_ys):
        """tf.gradients(y, [x, gamma, beta], grad_ys) for the last call."""
        axes, shape, x_hat, inv, gamma, is_training = self._saved
        g = grad_ys.astype(np.float64)
        self.gradients = {"beta": g.sum(axis=axes), "gamma": (g * x_hat).sum(axis=axes)}
        if is_training:
            g = (
                g
                - g.mean(axis=axes, keepdims=True)
                - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
            )
        dx = g * (gamma * inv).reshape(shape)
        return dx.astype(grad_ys.dtype)
