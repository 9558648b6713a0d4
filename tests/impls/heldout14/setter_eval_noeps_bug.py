"""NumPy BN layer switched with a setter, `set_training(False)`, in the style of a small
home-grown framework. Keras-type running statistics (momentum 0.9 on the old value, biased
variance), eps 1e-3. forward(x) / backward(dy) -> dx, gradients in self.grads["gamma"/"beta"].

PLANTED MISTAKE: the eval path divides by sqrt(running_var) and forgets eps. Training, the
backward and the running statistics are right; eval output is off by a factor
sqrt((v + eps)/v), about 5e-4 relative for a running variance near 1.
"""

import numpy as np


class Norm:
    def __init__(self, channels, eps=1e-3, momentum=0.9):
        self.eps, self.momentum = eps, momentum
        self.params = {"gamma": np.ones(channels), "beta": np.zeros(channels)}
        self.moving = {"mean": np.zeros(channels), "var": np.ones(channels)}
        self.grads = {}
        self._training = True
        self._ctx = None

    def set_training(self, flag):
        self._training = bool(flag)
        return self

    def forward(self, x):
        red = tuple(i for i in range(x.ndim) if i != 1)
        shp = tuple(-1 if i == 1 else 1 for i in range(x.ndim))
        x64 = np.asarray(x, np.float64)
        g = self.params["gamma"].reshape(shp)
        b = self.params["beta"].reshape(shp)
        if not self._training:
            xhat = (x64 - self.moving["mean"].reshape(shp)) / np.sqrt(
                self.moving["var"].reshape(shp)
            )
            return (xhat * g + b).astype(x.dtype)
        mean = x64.mean(axis=red, keepdims=True)
        xc = x64 - mean
        var = (xc * xc).mean(axis=red, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd
        k = self.momentum
        self.moving["mean"] = k * self.moving["mean"] + (1 - k) * mean.reshape(-1)
        self.moving["var"] = k * self.moving["var"] + (1 - k) * var.reshape(-1)
        self._ctx = (xhat, rstd, g, red)
        return (xhat * g + b).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, g, red = self._ctx
        d = np.asarray(dy, np.float64)
        m = d.size // d.shape[1]
        db = d.sum(axis=red, keepdims=True)
        dg = (d * xhat).sum(axis=red, keepdims=True)
        self.grads = {
            "gamma": dg.reshape(-1).astype(dy.dtype),
            "beta": db.reshape(-1).astype(dy.dtype),
        }
        return (g * rstd / m * (m * d - db - xhat * dg)).astype(dy.dtype)
