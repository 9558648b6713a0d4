"""A batch-norm "transformer" with a scikit-learn-like API: `fit_transform(X)` normalizes with
the batch statistics and folds them into the running averages (training), `transform(X)`
uses the running averages (inference), `backward(dY)` follows the last `fit_transform`.
Running averages as PyTorch (momentum 0.1, unbiased variance); channel axis 1."""

import numpy as np


class StandardBatchNorm:
    def __init__(self, n_features, eps=1e-5, momentum=0.1):
        self.n_features = n_features
        self.eps = eps
        self.momentum = momentum
        self.scale_ = np.ones(n_features)
        self.offset_ = np.zeros(n_features)
        self.mean_ = np.zeros(n_features)
        self.var_ = np.ones(n_features)
        self.n_batches_seen_ = 0

    def _view(self, v, ndim):
        return v.reshape((1, self.n_features) + (1,) * (ndim - 2))

    def fit_transform(self, X):
        axes = (0,) + tuple(range(2, X.ndim))
        m = X.size // X.shape[1]
        mu = X.mean(axis=axes, dtype=np.float64)
        centred = X - self._view(mu, X.ndim)
        var = np.mean(centred * centred, axis=axes, dtype=np.float64)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = centred * self._view(inv, X.ndim)
        self._fit_cache = (xhat, inv, axes, m)
        a = self.momentum
        self.mean_ = (1 - a) * self.mean_ + a * mu
        self.var_ = (1 - a) * self.var_ + a * var * (m / (m - 1))
        self.n_batches_seen_ += 1
        out = self._view(self.scale_, X.ndim) * xhat + self._view(self.offset_, X.ndim)
        return out.astype(X.dtype)

    def transform(self, X):
        inv = 1.0 / np.sqrt(self.var_ + self.eps)
        out = (X - self._view(self.mean_, X.ndim)) * self._view(inv * self.scale_, X.ndim)
        return (out + self._view(self.offset_, X.ndim)).astype(X.dtype)

    def backward(self, dY):
        xhat, inv, axes, m = self._fit_cache
        self.offset_grad_ = dY.sum(axis=axes, dtype=np.float64)
        self.scale_grad_ = (dY * xhat).sum(axis=axes, dtype=np.float64)
        dX = self._view(self.scale_ * inv / m, dY.ndim) * (
            m * dY - self._view(self.offset_grad_, dY.ndim) - xhat * self._view(self.scale_grad_, dY.ndim)
        )
        return dX.astype(dY.dtype)
