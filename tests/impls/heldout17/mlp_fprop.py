"""Layer in the Edinburgh `mlp` teaching-framework style: fprop / bprop / grads_wrt_params.
CORRECT (PyTorch running-statistics convention).

Style: `fprop(inputs, stochastic=True)` (stochastic=False is inference with the running
statistics), `bprop(inputs, outputs, grads_wrt_outputs)` returning the gradient with
respect to the inputs only, and a separate `grads_wrt_params(inputs, grads_wrt_outputs)`
returning `[grads_wrt_gamma, grads_wrt_beta]`, as the framework's parameterised layers do.
Parameters live in `self.gamma` / `self.beta`; running statistics in `self.running_mean` /
`self.running_var`, updated as PyTorch does (momentum 0.1 on the batch, unbiased variance).
Inputs (N, C) or (N, C, H, W).

    bncheck verify mlp_fprop.py:BatchNormalizationLayer --convention torch
"""

import numpy as np


class BatchNormalizationLayer:
    def __init__(self, input_dim, momentum=0.1, epsilon=1e-5):
        self.input_dim = input_dim
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = np.ones(input_dim)
        self.beta = np.zeros(input_dim)
        self.running_mean = np.zeros(input_dim)
        self.running_var = np.ones(input_dim)
        self._saved = None

    @staticmethod
    def _axes(inputs):
        return (0, *range(2, inputs.ndim))

    @staticmethod
    def _col(v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def fprop(self, inputs, stochastic=True):
        axes = self._axes(inputs)
        nd = inputs.ndim
        if not stochastic:
            inv = 1.0 / np.sqrt(self.running_var + self.epsilon)
            scale = self._col(self.gamma * inv, nd)
            return scale * (inputs - self._col(self.running_mean, nd)) + self._col(self.beta, nd)
        mean = inputs.mean(axis=axes)
        centred = inputs - self._col(mean, nd)
        var = (centred**2).mean(axis=axes)
        n = inputs.size // inputs.shape[1]
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (
            n - 1
        )
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        x_norm = centred * self._col(inv_std, nd)
        self._saved = (x_norm, inv_std)
        return self._col(self.gamma, nd) * x_norm + self._col(self.beta, nd)

    def bprop(self, inputs, outputs, grads_wrt_outputs):
        x_norm, inv_std = self._saved
        axes = self._axes(inputs)
        nd = inputs.ndim
        d_norm = grads_wrt_outputs * self._col(self.gamma, nd)
        mean_d = d_norm.mean(axis=axes, keepdims=True)
        mean_dx = (d_norm * x_norm).mean(axis=axes, keepdims=True)
        return self._col(inv_std, nd) * (d_norm - mean_d - x_norm * mean_dx)

    def grads_wrt_params(self, inputs, grads_wrt_outputs):
        x_norm, _ = self._saved
        axes = self._axes(inputs)
        return [(grads_wrt_outputs * x_norm).sum(axis=axes), grads_wrt_outputs.sum(axis=axes)]
