"""A Chainer-flavoured batch normalization: a function object that does the maths and a
"link" that owns the parameters and the averaged statistics.

Train or test is not an argument: it is a process-wide configuration value, switched with
`with using_config('train', False): ...`, as in Chainer.  The link keeps `avg_mean` and
`avg_var`; `decay` is the share of the old average kept at each step and the averaged
variance is the unbiased one (m / (m - 1) correction).
"""
import contextlib

import numpy as np


class _GlobalConfig:
    train = True
    enable_backprop = True


config = _GlobalConfig()


@contextlib.contextmanager
def using_config(name, value):
    old = getattr(config, name)
    setattr(config, name, value)
    try:
        yield
    finally:
        setattr(config, name, old)


class Parameter:
    """A minimal variable: holds an array and, after backward, its gradient."""

    def __init__(self, array):
        self.array = array
        self.grad = None

    @property
    def data(self):
        return self.array

    @data.setter
    def data(self, value):
        self.array = value

    @property
    def shape(self):
        return self.array.shape


def _expander(ndim):
    return (None, slice(None)) + (None,) * (ndim - 2)


class BatchNormalizationFunction:
    def __init__(self, eps=2e-5, mean=None, var=None, decay=0.9):
        self.running_mean = mean
        self.running_var = var
        self.eps = eps
        self.decay = decay

    def forward(self, inputs):
        x, gamma, beta = inputs
        self.axis = (0,) + tuple(range(2, x.ndim))
        ex = _expander(x.ndim)
        mean = x.mean(axis=self.axis)
        var = x.var(axis=self.axis)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean[ex]) * self.inv_std[ex]
        y = gamma[ex] * self.x_hat + beta[ex]
        if self.running_mean is not None:
            m = x.size // gamma.size
            adjust = m / max(m - 1.0, 1.0)
            self.running_mean *= self.decay
            self.running_mean += (1 - self.decay) * mean
            self.running_var *= self.decay
            self.running_var += (1 - self.decay) * adjust * var
        return (y.astype(x.dtype, copy=False),)

    def backward(self, inputs, grad_outputs):
        x, gamma = inputs[0], inputs[1]
        (gy,) = grad_outputs
        ex = _expander(x.ndim)
        m = gy.size // gamma.size
        gbeta = gy.sum(axis=self.axis)
        ggamma = (gy * self.x_hat).sum(axis=self.axis)
        coeff = gamma * self.inv_std
        gx = coeff[ex] * (gy - (self.x_hat * ggamma[ex] + gbeta[ex]) / m)
        return gx.astype(x.dtype, copy=False), ggamma, gbeta


def fixed_batch_normalization(x, gamma, beta, mean, var, eps=2e-5):
    ex = _expander(x.ndim)
    inv_std = 1.0 / np.sqrt(var + eps)
    y = gamma[ex] * (x - mean[ex]) * inv_std[ex] + beta[ex]
    return y.astype(x.dtype, copy=False)


class BatchNormalization:
    """The link: call it on a batch; `config.train` decides batch or averaged statistics."""

    def __init__(self, size, decay=0.9, eps=2e-5, dtype=np.float64):
        self.avg_mean = np.zeros(size, dtype=dtype)
        self.avg_var = np.ones(size, dtype=dtype)
        self.N = 0
        self.decay = decay
        self.eps = eps
        self.gamma = Parameter(np.ones(size, dtype=dtype))
        self.beta = Parameter(np.zeros(size, dtype=dtype))
        self._func = None

    def __call__(self, x, finetune=False):
        gamma, beta = self.gamma.array, self.beta.array
        if config.train:
            if finetune:
                self.N += 1
                decay = 1.0 - 1.0 / self.N
            else:
                decay = self.decay
            self._func = BatchNormalizationFunction(self.eps, self.avg_mean, self.avg_var, decay)
            self._inputs = (x, gamma, beta)
            (y,) = self._func.forward(self._inputs)
            return y
        return fixed_batch_normalization(x, gamma, beta, self.avg_mean, self.avg_var, self.eps)

    def backward(self, gy):
        """Back-propagate the last training call; fills gamma.grad and beta.grad."""
        gx, ggamma, gbeta = self._func.backward(self._inputs, (gy,))
        self.gamma.grad = ggamma
        self.beta.grad = gbeta
        return gx
