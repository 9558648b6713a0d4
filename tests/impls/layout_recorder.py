"""Correct BNs that write down the memory layout of every array they are handed (its shape,
strides and contiguity flags), one line per array, to the file named by the environment
variable BNCHECK_LAYOUT_LOG: the tests read it to see that verify hands a target exactly the
layout under test (tests/check/test_kernel_inputs.py).

- ``forward``/``backward``: functional, channels on axis 1;
- ``ChannelsLastLayer``: a layer over (N, C) and (N, H, W, C), for ``axis=-1``;
- ``TorchRecorder`` (in layout_recorder_torch.py): a torch.nn.Module.

Each computes in float64 and returns the input's dtype.
"""

import os

import numpy as np


def record(name, a):
    path = os.environ.get("BNCHECK_LAYOUT_LOG")
    if path:
        flags = f"{int(a.flags.c_contiguous)} {int(a.flags.f_contiguous)}"
        with open(path, "a") as log:
            log.write(f"{name};{a.shape};{a.strides};{flags};{a.itemsize}\n")


def _axes(x, axis):
    return tuple(i for i in range(x.ndim) if i != axis % x.ndim)


def _forward(x, gamma, beta, eps, axis):
    axes = _axes(x, axis)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    xw = x.astype(np.float64)
    mu = xw.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(((xw - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    x_hat = (xw - mu) * inv
    g = gamma.astype(np.float64).reshape(shape)
    y = g * x_hat + beta.astype(np.float64).reshape(shape)
    return y.astype(x.dtype), (x_hat, inv, g, axes, x.dtype)


def _backward(dy, cache):
    x_hat, inv, g, axes, dtype = cache
    d = dy.astype(np.float64)
    m = d.size // g.size
    dbeta = d.sum(axis=axes)
    dgamma = (d * x_hat).sum(axis=axes)
    shape = g.shape
    dx = g * inv * (d - dbeta.reshape(shape) / m - x_hat * dgamma.reshape(shape) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)


def forward(x, gamma, beta, eps):
    record("x", x)
    return _forward(x, gamma, beta, eps, 1)


def backward(dy, cache):
    record("dy", dy)
    return _backward(dy, cache)


class ChannelsLastLayer:
    """Channels on the last axis: (N, C) or (N, H, W, C); torch's running-statistics
    convention (momentum 0.1, unbiased running variance)."""

    def __init__(self, num_features):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.momentum = 0.1
        self.eps = 1e-5
        self.cache = None

    def forward(self, x, training=True):
        record("x", x)
        if not training:
            shape = [1] * (x.ndim - 1) + [-1]
            xw = x.astype(np.float64)
            inv = 1.0 / np.sqrt(self.running_var + self.eps)
            y = (xw - self.running_mean.reshape(shape)) * (self.gamma * inv).reshape(shape)
            return (y + self.beta.reshape(shape)).astype(x.dtype)
        y, self.cache = _forward(x, self.gamma, self.beta, self.eps, -1)
        axes = _axes(x, -1)
        xw = x.astype(np.float64)
        m = x.size // x.shape[-1]
        mean, var = xw.mean(axis=axes), xw.var(axis=axes) * m / (m - 1)
        a = self.momentum
        self.running_mean = ((1 - a) * self.running_mean + a * mean).astype(self.gamma.dtype)
        self.running_var = ((1 - a) * self.running_var + a * var).astype(self.gamma.dtype)
        return y

    def backward(self, dout):
        record("dy", dout)
        return _backward(dout, self.cache)
