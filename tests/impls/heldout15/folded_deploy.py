"""NumPy BN layer in the style of "fold BN into the conv for deployment" tutorials: in training
it normalizes with the batch; `deploy()` switches it (attribute `deployed`) to the folded form
y = x * scale + shift with scale = gamma / sqrt(moving_var + eps), shift = beta - moving_mean
* scale, recomputed from the current statistics on every deployed call. Keras-type moving
statistics (momentum 0.99 on the old value, biased batch variance), eps 1e-3.
forward(x) -> y, backward(dy) -> (dx, dgamma, dbeta).

No planted mistake.
"""

import numpy as np


class FoldableBN:
    def __init__(self, channels, eps=1e-3, momentum=0.99):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.moving_mean = np.zeros(channels)
        self.moving_var = np.ones(channels)
        self.deployed = False
        self._saved = None

    def deploy(self):
        self.deployed = True

    def undeploy(self):
        self.deployed = False

    def folded(self):
        scale = self.gamma / np.sqrt(self.moving_var + self.eps)
        return scale, self.beta - self.moving_mean * scale

    def forward(self, x):
        xd = np.asarray(x, dtype=np.float64)
        bshape = (1, -1) + (1,) * (xd.ndim - 2)
        if self.deployed:
            scale, shift = self.folded()
            return (xd * scale.reshape(bshape) + shift.reshape(bshape)).astype(x.dtype)
        axes = (0, *range(2, xd.ndim))
        mu = xd.mean(axis=axes)
        centred = xd - mu.reshape(bshape)
        var = (centred * centred).mean(axis=axes)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = centred * inv.reshape(bshape)
        self.moving_mean = self.momentum * self.moving_mean + (1.0 - self.momentum) * mu
        self.moving_var = self.momentum * self.moving_var + (1.0 - self.momentum) * var
        self._saved = (xhat, inv, axes, bshape)
        return (xhat * self.gamma.reshape(bshape) + self.beta.reshape(bshape)).astype(x.dtype)

    def backward(self, dy):
        xhat, inv, axes, bshape = self._saved
        g = np.asarray(dy, dtype=np.float64)
        dbeta = g.sum(axis=axes)
        dgamma = (g * xhat).sum(axis=axes)
        m = xhat.size // xhat.shape[1]
        dx = (
            (self.gamma * inv).reshape(bshape)
            / m
            * (m * g - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
        )
        return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
