"""NumPy port of PyTorch's BatchNorm with `momentum=None`: the running statistics are the
cumulative moving average of the batch statistics (weight 1/t for the t-th batch, counted by
`num_batches_tracked`), the running variance unbiased.  `forward(x, train=True)`."""

import numpy as np


class CumulativeBatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=None):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0

    def _bc(self, v, x):
        shape = [1] * x.ndim
        shape[1] = self.num_features
        return v.reshape(shape)

    def forward(self, x, train=True):
        if not train:
            inv = self.weight / np.sqrt(self.running_var + self.eps)
            y = (x - self._bc(self.running_mean, x)) * self._bc(inv, x) + self._bc(self.bias, x)
            return y.astype(x.dtype)
        axes = tuple(i for i in range(x.ndim) if i != 1)
        n = x.size // self.num_features
        mean = np.mean(x, axis=axes, dtype=np.float64)
        d = x - self._bc(mean, x)
        var = np.sum(d * d, axis=axes) / n
        self.num_batches_tracked += 1
        f = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        self.running_mean = (1.0 - f) * self.running_mean + f * mean
        self.running_var = (1.0 - f) * self.running_var + f * var * n / (n - 1)
        istd = 1.0 / np.sqrt(var + self.eps)
        self._saved = (d * self._bc(istd, x), istd, axes, n)
        return (self._bc(self.weight, x) * self._saved[0] + self._bc(self.bias, x)).astype(x.dtype)

    def backward(self, grad_out):
        xhat, istd, axes, n = self._saved
        g = grad_out.astype(np.float64)
        self.grad_bias = g.sum(axis=axes)
        self.grad_weight = (g * xhat).sum(axis=axes)
        dx = self._bc(self.weight * istd, g) * (
            g - self._bc(self.grad_bias / n, g) - xhat * self._bc(self.grad_weight / n, g)
        )
        return dx.astype(grad_out.dtype)
