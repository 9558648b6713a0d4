"""NumPy BN layer whose mode is a module-level flag shared by every layer of the module, as
in small teaching frameworks: `set_global_training(False)` puts all layers in inference.
Keras-type running statistics (momentum 0.9 on the old value, biased variance), eps 1e-4.
run(x); grad(dy) returns (dx, dgamma, dbeta). Correct.
"""

import numpy as np

_TRAINING = True


def set_global_training(flag):
    global _TRAINING
    _TRAINING = bool(flag)


def is_training():
    return _TRAINING


class GlobalFlagBN:
    def __init__(self, num_features, eps=1e-4, momentum=0.9):
        self.eps, self.momentum = eps, momentum
        self.g = np.ones(num_features)
        self.b = np.zeros(num_features)
        self.ema_mean = np.zeros(num_features)
        self.ema_var = np.ones(num_features)
        self._bag = None

    def run(self, x):
        axes = tuple(a for a in range(x.ndim) if a != 1)
        bs = tuple(-1 if a == 1 else 1 for a in range(x.ndim))
        xx = np.asarray(x, np.float64)
        if not is_training():
            inv = 1.0 / np.sqrt(self.ema_var + self.eps)
            return (
                (xx - self.ema_mean.reshape(bs)) * (self.g * inv).reshape(bs) + self.b.reshape(bs)
            ).astype(x.dtype)
        mu = xx.mean(axis=axes)
        c = xx - mu.reshape(bs)
        var = (c * c).mean(axis=axes)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = c * inv.reshape(bs)
        self.ema_mean = self.momentum * self.ema_mean + (1.0 - self.momentum) * mu
        self.ema_var = self.momentum * self.ema_var + (1.0 - self.momentum) * var
        self._bag = (xhat, inv, axes, bs)
        return (xhat * self.g.reshape(bs) + self.b.reshape(bs)).astype(x.dtype)

    def grad(self, dy):
        xhat, inv, axes, bs = self._bag
        d = np.asarray(dy, np.float64)
        m = d.size // d.shape[1]
        db = d.sum(axis=axes)
        dg = (d * xhat).sum(axis=axes)
        dx = (self.g * inv / m).reshape(bs) * (m * d - db.reshape(bs) - xhat * dg.reshape(bs))
        return dx.astype(dy.dtype), dg.astype(dy.dtype), db.astype(dy.dtype)
