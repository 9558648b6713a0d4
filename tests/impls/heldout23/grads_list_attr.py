"""A layer in the "params / grads lists" style: ``backward(dout)`` returns dx only and leaves
the parameters' gradients in ``self.grads``, index for index with ``self.params``.

    self.params = [beta, gamma]
    self.grads  = [dbeta, dgamma]

so an optimizer's ``for p, g in zip(layer.params, layer.grads)`` pairs them right.

PyTorch-style running statistics (momentum 0.1 on the batch, unbiased running variance);
``is_training`` switches train/eval.

CORRECT.
"""

import numpy as np


class BatchNorm1d:
    def __init__(self, n_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.params = [np.zeros(n_features), np.ones(n_features)]  # beta, gamma
        self.grads = [np.zeros(n_features), np.zeros(n_features)]  # dbeta, dgamma
        self.running_mean = np.zeros(n_features)
        self.running_var = np.ones(n_features)
        self.is_training = True

    def forward(self, x):
        beta, gamma = self.params
        x_ = x.astype(np.float64)
        axes = tuple(a for a in range(x_.ndim) if a != 1)
        view = [1] * x_.ndim
        view[1] = x_.shape[1]
        if self.is_training:
            mean = x_.mean(axis=axes)
            var = x_.var(axis=axes)
            cnt = x_.size / x_.shape[1]
            self.running_mean = self.momentum * mean + (1 - self.momentum) * self.running_mean
            self.running_var = (
                self.momentum * var * cnt / (cnt - 1) + (1 - self.momentum) * self.running_var
            )
        else:
            mean, var = self.running_mean, self.running_var
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.xn = (x_ - mean.reshape(view)) * self.inv.reshape(view)
        self.view = view
        self.axes = axes
        self.mode_was_training = self.is_training
        self.in_dtype = x.dtype
        return (gamma.reshape(view) * self.xn + beta.reshape(view)).astype(x.dtype)

    def backward(self, dout):
        _, gamma = self.params
        d = dout.astype(np.float64)
        view, axes = self.view, self.axes
        dbeta = d.sum(axis=axes)
        dgamma = (d * self.xn).sum(axis=axes)
        k = (gamma * self.inv).reshape(view)
        if self.mode_was_training:
            cnt = d.size / d.shape[1]
            dx = k * (d - (dbeta / cnt).reshape(view) - self.xn * (dgamma / cnt).reshape(view))
        else:
            dx = k * d
        self.grads = [dbeta.astype(self.in_dtype), dgamma.astype(self.in_dtype)]
        return dx.astype(self.in_dtype)
