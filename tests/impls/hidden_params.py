"""A BN layer whose affine step is a closure over gamma = 1, beta = 0: no parameter to find or
set (verify judges it with gamma = 1, beta = 0, never with the cases' own), no dgamma/dbeta."""

import numpy as np


def _affine(scale, shift):
    return lambda z: z * scale + shift  # parameters in a closure: nothing to find or set


class HiddenAffineBN:
    """A BN whose affine step is a closure over gamma = 1, beta = 0 (a frozen identity)."""

    def __init__(self, num_features, eps=1e-5):
        self.eps = eps
        self.training = True
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum = 0.1
        self._affine = _affine(1.0, 0.0)

    def forward(self, x):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            m = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (
                m - 1
            )
        else:
            mu, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu.reshape(shape)) * inv.reshape(shape)
        self._cache = (xhat, inv, shape, axes)
        return self._affine(xhat).astype(x.dtype)

    def backward(self, dy):
        xhat, inv, shape, axes = self._cache
        m = dy.size // dy.shape[1]
        dx = (
            inv.reshape(shape)
            / m
            * (
                m * dy
                - dy.sum(axis=axes).reshape(shape)
                - xhat * (dy * xhat).sum(axis=axes).reshape(shape)
            )
        )
        return dx.astype(dy.dtype)


def _trainable_affine(num_features):
    """An affine step whose gamma and beta live in a closure (arrays of C values), with their
    gradients kept there too: parameters no one outside can reach."""
    held = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}

    def apply(xhat, shape):
        return xhat * held["gamma"].reshape(shape) + held["beta"].reshape(shape)

    def grads(dy, xhat, axes):
        held["dgamma"] = (dy * xhat).sum(axis=axes)
        held["dbeta"] = dy.sum(axis=axes)

    return apply, grads


class ClosureParamsBN(HiddenAffineBN):
    """Parameters (C-valued arrays) in closures, their gradients kept there: its backward gives
    dx alone, but it has dgamma and dbeta; never judged as a BN without parameters."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__(num_features, eps)
        self._apply, self._grads = _trainable_affine(num_features)
        self._affine = None

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        self._affine = lambda z: self._apply(z, shape)
        return super().forward(x)

    def backward(self, dy):
        xhat, _, _, axes = self._cache
        self._grads(dy, xhat, axes)
        return super().backward(dy)
