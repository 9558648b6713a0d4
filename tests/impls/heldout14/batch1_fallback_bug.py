"""NumPy BN layer that "stays safe on a batch of one": a training call whose batch has a
single sample normalizes with the running statistics instead (and does not update them),
the way some deployment-minded code guards against a degenerate batch.
SafeBatchNorm(C): forward(x) / backward(dy) -> dx, gradients left in self.dweight / self.dbias;
self.training; PyTorch convention (momentum 0.1, unbiased running variance), eps 1e-5.

PLANTED MISTAKE: a batch of one still has H*W values per channel on 4-D input, and batch norm
in training normalizes by them; this layer uses the running pair there (and its backward is
the eval-mode one, consistent with that forward). Wrong only in training on N = 1 (4-D, or
3-D); N >= 2 and eval are right.
"""

import numpy as np


class SafeBatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._saved = None

    def _shape(self, x):
        s = [1] * x.ndim
        s[1] = -1
        return tuple(s), tuple(i for i in range(x.ndim) if i != 1)

    def forward(self, x):
        shp, red = self._shape(x)
        x64 = np.asarray(x, np.float64)
        batch = self.training and x.shape[0] > 1
        if batch:
            m = x64.size // x64.shape[1]
            mean = x64.mean(axis=red)
            var = ((x64 - mean.reshape(shp)) ** 2).mean(axis=red)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (
                m - 1
            )
        else:
            mean, var = self.running_mean, self.running_var
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x64 - mean.reshape(shp)) * rstd.reshape(shp)
        self._saved = (xhat, rstd, batch, shp, red)
        y = xhat * self.weight.reshape(shp) + self.bias.reshape(shp)
        return y.astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, batch, shp, red = self._saved
        d = np.asarray(dy, np.float64)
        self.dbias = d.sum(axis=red)
        self.dweight = (d * xhat).sum(axis=red)
        scale = (self.weight * rstd).reshape(shp)
        if batch:
            m = d.size // d.shape[1]
            dx = scale / m * (m * d - self.dbias.reshape(shp) - xhat * self.dweight.reshape(shp))
        else:
            dx = scale * d
        return dx.astype(dy.dtype)
