"""Planted InstanceNorm layers with running statistics, and a LayerNorm kernel wrong only on
Fortran-ordered input (issue 23, points 3 and 6): the targets of
tests/check/test_verify_family_running.py, each with its expected names in :data:`DIAGNOSES`
and :data:`LAYOUT_DIAGNOSES`. The expected verdicts rest on PyTorch's documented
InstanceNorm*d(track_running_stats=True): per-instance mean and unbiased variance averaged over
the batch, new = (1 − momentum)·old + momentum·batch, eval with the running statistics."""

from __future__ import annotations

from typing import Any

import numpy as np


class InstanceNormRunning:
    """InstanceNorm over the spatial axes of (N, C, ...) input, keeping running statistics as
    PyTorch does; the class flags plant one mistake each in the subclasses."""

    biased_update = False  # the running variance from the biased per-instance variances
    swapped = False  # momentum as the weight of the old value
    eval_batch = False  # eval normalizes with the input's own statistics

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps, self.momentum = eps, momentum
        self.cache: Any = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        n, c = x.shape[:2]
        axes = tuple(range(2, x.ndim))
        side = (1, c) + (1,) * (x.ndim - 2)
        if train or self.eval_batch:
            mu = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            if train:
                m = int(np.prod(x.shape[2:]))
                inst = var if self.biased_update else var * m / (m - 1)
                new_w = 1 - self.momentum if self.swapped else self.momentum
                batch_mean = mu.reshape(n, c).mean(axis=0)
                batch_var = inst.reshape(n, c).mean(axis=0)
                self.running_mean = (1 - new_w) * self.running_mean + new_w * batch_mean
                self.running_var = (1 - new_w) * self.running_var + new_w * batch_var
        else:
            mu = self.running_mean.reshape(side)
            var = self.running_var.reshape(side)
        r = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mu) * r
        self.cache = (xh, r, axes)
        return self.gamma.reshape(side) * xh + self.beta.reshape(side)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xh, r, axes = self.cache
        side = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
        dgamma = (dout * xh).sum(axis=(0, *axes))
        dbeta = dout.sum(axis=(0, *axes))
        d = dout * self.gamma.reshape(side)
        dx = r * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx, dgamma, dbeta


class InstanceNormBiasedRunning(InstanceNormRunning):
    biased_update = True


class InstanceNormSwappedMomentum(InstanceNormRunning):
    swapped = True


class InstanceNormEvalBatchStats(InstanceNormRunning):
    eval_batch = True


class InstanceNormPlain:
    """InstanceNorm without running statistics (and without an eval mode)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.eps = eps
        self.cache: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = tuple(range(2, x.ndim))
        side = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        r = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + self.eps)
        xh = (x - x.mean(axis=axes, keepdims=True)) * r
        self.cache = (xh, r, axes)
        return self.gamma.reshape(side) * xh + self.beta.reshape(side)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xh, r, axes = self.cache
        side = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
        d = dout * self.gamma.reshape(side)
        dx = r * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
        return dx, (dout * xh).sum(axis=(0, *axes)), dout.sum(axis=(0, *axes))


DIAGNOSES = {
    "InstanceNormRunning": [],
    "InstanceNormPlain": [],
    "InstanceNormBiasedRunning": ["running-var-bias"],
    "InstanceNormSwappedMomentum": ["momentum-swapped"],
    "InstanceNormEvalBatchStats": ["eval-batch-stats"],
}


# -- a kernel that reads memory as if it were C-ordered ----------------------------------------


def _memory_order(x: np.ndarray) -> np.ndarray:
    """x's elements in memory order, reshaped as if that were C order (what a C kernel that
    assumes a C-contiguous buffer reads): the values themselves for C-contiguous input, the
    wrong ones for Fortran order."""
    return np.asarray(x).ravel(order="K").reshape(x.shape)


def layernorm_corder_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: dict[str, Any]
) -> tuple[np.ndarray, Any]:
    eps = ln_param.get("eps", 1e-5)
    xs = _memory_order(x)
    mu = xs.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(xs.var(axis=-1, keepdims=True) + eps)
    xh = (xs - mu) * r
    return gamma * xh + beta, (xh, r, gamma)


def layernorm_corder_backward(
    dout: np.ndarray, cache: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xh, r, gamma = cache
    dout = np.ascontiguousarray(dout)
    d = dout * gamma
    dx = r * (d - d.mean(axis=-1, keepdims=True) - xh * (d * xh).mean(axis=-1, keepdims=True))
    return dx, (dout * xh).sum(axis=0), dout.sum(axis=0)


LAYOUT_DIAGNOSES = {"layernorm_corder": "fail"}


class InstanceNormPooledRunning(InstanceNormRunning):
    """Running variance from the variance pooled over the batch and spatial axes (BN's batch
    statistic), not the average of the per-instance variances PyTorch keeps."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            return super().forward(x, False)
        c = x.shape[1]
        cols = np.moveaxis(x, 1, 0).reshape(c, -1)
        m = cols.shape[1]
        mean_before = self.running_mean.copy()
        var_before = self.running_var.copy()
        y = super().forward(x, True)
        a = self.momentum
        self.running_mean = (1 - a) * mean_before + a * cols.mean(axis=1)
        self.running_var = (1 - a) * var_before + a * cols.var(axis=1) * m / (m - 1)
        return y


class InstanceNormNoSwitch(InstanceNormRunning):
    """Running statistics kept, but no train/eval switch bncheck can find."""

    def forward(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return super().forward(x, True)
