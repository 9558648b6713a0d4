"""NumPy BN layer that preallocates its output buffers to avoid allocation in the training
loop. PyTorch convention (momentum 0.1, unbiased running variance), eps 1e-5; statistics in
float64. `forward(x)`, `backward(dy) -> (dx, dgamma, dbeta)`, `train()`/`eval()`.

PLANTED MISTAKE: the buffer dtype is fixed by the instance's FIRST call (`self._buf_dtype`),
and y and dx are written into buffers of that dtype before being returned in x's dtype. An
instance whose first call was float32 returns float64 results rounded to float32 (errors
~1e-8 relative, far above the float64 budget). An instance used with one dtype only, or
float64 first, is right.
"""

import numpy as np


class BatchNorm2d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self._buf_dtype = None
        self._bufs = {}

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        self.training = False
        return self

    def _buffer(self, name, shape):
        key = (name, shape)
        if key not in self._bufs:
            self._bufs[key] = np.empty(shape, dtype=self._buf_dtype)
        return self._bufs[key]

    def forward(self, x):
        if self._buf_dtype is None:
            self._buf_dtype = x.dtype
        axes = tuple(i for i in range(x.ndim) if i != 1)
        bs = tuple(-1 if i == 1 else 1 for i in range(x.ndim))
        xd = x.astype(np.float64)
        if self.training:
            m = x.size // x.shape[1]
            mu = xd.mean(axis=axes)
            var = ((xd - mu.reshape(bs)) ** 2).mean(axis=axes)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (
                m - 1
            )
        else:
            m = None
            mu, var = self.running_mean, self.running_var
        rstd = (var + self.eps) ** -0.5
        xhat = (xd - mu.reshape(bs)) * rstd.reshape(bs)
        self._cache = (xhat, rstd, m, axes, bs)
        out = self._buffer("y", x.shape)
        out[...] = self.gamma.reshape(bs) * xhat + self.beta.reshape(bs)
        return out.astype(x.dtype)

    __call__ = forward

    def backward(self, dy):
        xhat, rstd, m, axes, bs = self._cache
        d = dy.astype(np.float64)
        dbeta = d.sum(axis=axes)
        dgamma = (d * xhat).sum(axis=axes)
        k = (self.gamma * rstd).reshape(bs)
        gx = self._buffer("dx", dy.shape)
        if m is None:
            gx[...] = k * d
        else:
            gx[...] = k * (d - dbeta.reshape(bs) / m - xhat * (dgamma / m).reshape(bs))
        return gx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
