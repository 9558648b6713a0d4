"""Batch Normalization layers without the affine step (PyTorch's ``affine=False``), written by
hand in NumPy: no gamma, no beta, so a backward that gives dx alone
(tests/check/test_param_free.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


class AffineFreeBN:
    """Correct: PyTorch's conventions (unbiased running variance, momentum 0.1)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.eps, self.momentum = eps, momentum
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self) -> None:
        self.training = True

    def eval(self) -> None:
        self.training = False

    def _stats(self, x: Any) -> tuple[Any, Any]:
        axes = (0, *range(2, x.ndim))
        return x.mean(axis=axes), x.var(axis=axes)

    def forward(self, x: Any) -> Any:
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mu, var = self._stats(x)
            n = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (
                1 - self.momentum
            ) * self.running_var + self.momentum * var * n / max(n - 1, 1)
        else:
            mu, var = self.running_mean, self.running_var
        self.inv = (1.0 / np.sqrt(var + self.eps)).reshape(shape)
        self.x_hat = (x - mu.reshape(shape)) * self.inv
        self.axes = axes
        return self.x_hat.astype(x.dtype)

    def _dx(self, dy: Any) -> Any:
        m = dy.size // dy.shape[1]
        s1 = dy.sum(axis=self.axes, keepdims=True)
        s2 = (dy * self.x_hat).sum(axis=self.axes, keepdims=True)
        return (self.inv / m * (m * dy - s1 - self.x_hat * s2)).astype(dy.dtype)

    def backward(self, dy: Any) -> Any:
        return self._dx(dy)


class AffineFreeTupleBN(AffineFreeBN):
    """Correct, its backward in the three-item form: (dx, None, None)."""

    def backward(self, dy: Any) -> Any:
        return self._dx(dy), None, None


class AffineFreeEvalBug(AffineFreeTupleBN):
    """Wrong: eval normalizes with the batch statistics (running ones kept, never used)."""

    def forward(self, x: Any) -> Any:
        if self.training:
            return super().forward(x)
        kept = self.running_mean.copy(), self.running_var.copy()
        self.training = True
        try:
            return super().forward(x)
        finally:
            self.training = False
            self.running_mean, self.running_var = kept


class AffineFreeMeanPathBug(AffineFreeBN):
    """Wrong: the backward drops the path through the mean (no Σ dy term)."""

    def backward(self, dy: Any) -> Any:
        m = dy.size // dy.shape[1]
        s2 = (dy * self.x_hat).sum(axis=self.axes, keepdims=True)
        return (self.inv / m * (m * dy - self.x_hat * s2)).astype(dy.dtype)


class OddlyNamedParamsBN(AffineFreeBN):
    """Has parameters under names bncheck does not know (``p``, ``q``) and leaves their
    gradients on the layer (``dp``, ``dq``): not a parameter-free BN, so its dgamma must not
    go unchecked as if it had none."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps, momentum)
        self.p = np.ones(num_features)
        self.q = np.zeros(num_features)

    def forward(self, x: Any) -> Any:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (super().forward(x) * self.p.reshape(shape) + self.q.reshape(shape)).astype(x.dtype)

    def backward(self, dy: Any) -> Any:
        shape = (1, -1) + (1,) * (dy.ndim - 2)
        self.dp = (dy * self.x_hat).sum(axis=self.axes)
        self.dq = dy.sum(axis=self.axes) * 2.0  # wrong: twice Σ dy
        return self._dx(dy * self.p.reshape(shape))


class LayerNormNoAffine:
    """Correct: LayerNorm over the last axis without its affine step
    (``elementwise_affine=False``); the backward gives dx alone."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        self.eps = eps

    def forward(self, x: Any) -> Any:
        mu = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mu) * self.inv
        return self.x_hat.astype(x.dtype)

    def backward(self, dy: Any) -> Any:
        n = dy.shape[-1]
        s1 = dy.sum(axis=-1, keepdims=True)
        s2 = (dy * self.x_hat).sum(axis=-1, keepdims=True)
        return (self.inv / n * (n * dy - s1 - self.x_hat * s2)).astype(dy.dtype)


class LayerNormClosureParams(LayerNormNoAffine):
    """Its weight and bias (arrays of the normalized size) live in a closure, with their
    gradients: a backward giving dx alone hides dgamma and dbeta, so it is never judged as a
    layer without parameters."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        super().__init__(normalized_shape, eps)
        held = {"w": np.ones(normalized_shape), "b": np.zeros(normalized_shape)}

        def affine(z: Any) -> Any:
            return z * held["w"] + held["b"]

        self.affine = affine

    def forward(self, x: Any) -> Any:
        return self.affine(super().forward(x)).astype(x.dtype)
