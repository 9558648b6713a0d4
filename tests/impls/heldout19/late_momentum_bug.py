"""NumPy BN layer with a built-in "statistics settling" schedule, PyTorch convention as
declared: `momentum = 0.1` on the batch, unbiased running variance, eps 1e-5.
`__call__(x, training=True)`, `backward(dout) -> (dx, dweight, dbias)`.

PLANTED MISTAKE: after `settle_after = 8` training batches the running update silently uses
a tenth of the momentum (0.01) while `self.momentum` still reads 0.1. The first 8 updates
follow the torch convention exactly; from the 9th training call on the running statistics
(and so eval) drift away from it. Forward and backward are right at every call.
"""

import numpy as np


class BN:
    settle_after = 8

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.steps = 0
        self._saved = None

    def __call__(self, x, training=True):
        red = (0, *tuple(range(2, x.ndim)))
        shp = [1] * x.ndim
        shp[1] = -1
        xf = np.asarray(x, dtype=np.float64)
        if training:
            n = xf.size // xf.shape[1]
            mean = xf.mean(axis=red)
            var = xf.var(axis=red)
            self.steps += 1
            mom = self.momentum if self.steps <= self.settle_after else self.momentum * 0.1
            self.running_mean = self.running_mean + mom * (mean - self.running_mean)
            self.running_var = self.running_var + mom * (var * n / (n - 1) - self.running_var)
        else:
            n = None
            mean, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xf - mean.reshape(shp)) * inv.reshape(shp)
        self._saved = (xhat, inv, n, shp, red, x.dtype)
        return (xhat * self.weight.reshape(shp) + self.bias.reshape(shp)).astype(x.dtype)

    def backward(self, dout):
        xhat, inv, n, shp, red, dt = self._saved
        g = np.asarray(dout, dtype=np.float64)
        dbias = g.sum(axis=red)
        dweight = (g * xhat).sum(axis=red)
        gx = g * (self.weight * inv).reshape(shp)
        if n is not None:
            gx = (
                gx
                - (self.weight * inv).reshape(shp)
                * (dbias.reshape(shp) + xhat * dweight.reshape(shp))
                / n
            )
        return gx.astype(dt), dweight.astype(dt), dbias.astype(dt)
