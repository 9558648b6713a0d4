"""BatchNorm1d for sequences in NumPy, the layer a from-scratch speech/time-series model
uses: input (N, C, L) only (batch, channels, time); anything else is refused with
"expected 3D input". PyTorch's rules: biased variance to normalize, unbiased for the running
variance, and `momentum=None` (the default here) means a cumulative moving average counted
by `num_batches_tracked`; a float momentum is the usual exponential average.
`forward(x)` / `backward(dy) -> (dx, dweight, dbias)`, `train()` / `eval()`.

No planted mistake.
"""

import numpy as np


class SequenceBatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=None):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"expected 3D input (N, C, L), got {x.ndim}D input")
        xd = x.astype(np.float64)
        w = self.weight[None, :, None]
        b = self.bias[None, :, None]
        if self.training:
            n = xd.shape[0] * xd.shape[2]
            mu = xd.mean(axis=(0, 2))
            xc = xd - mu[None, :, None]
            var = np.einsum("nct,nct->c", xc, xc) / n
            self.num_batches_tracked += 1
            f = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = self.running_mean + f * (mu - self.running_mean)
            self.running_var = self.running_var + f * (var * n / (n - 1) - self.running_var)
            rstd = 1.0 / np.sqrt(var + self.eps)
            xhat = xc * rstd[None, :, None]
            self._saved = (xhat, rstd, n)
        else:
            rstd = 1.0 / np.sqrt(self.running_var + self.eps)
            xhat = (xd - self.running_mean[None, :, None]) * rstd[None, :, None]
            self._saved = (xhat, rstd, None)
        return (w * xhat + b).astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        xhat, rstd, n = self._saved
        g = dy.astype(np.float64)
        dbias = g.sum(axis=(0, 2))
        dweight = np.einsum("nct,nct->c", g, xhat)
        scale = (self.weight * rstd)[None, :, None]
        if n is None:
            dx = scale * g
        else:
            dx = scale * (g - (dbias[None, :, None] + xhat * dweight[None, :, None]) / n)
        return dx.astype(dy.dtype), dweight.astype(dy.dtype), dbias.astype(dy.dtype)
