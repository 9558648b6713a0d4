"""Lasagne-style batch normalization keeping a running mean and running inverse standard
deviation; the output is requested with get_output_for(x, deterministic=False|True).
The small constant is added to the standard deviation (std + epsilon) to keep the
division safe.  A hand-written backward returns (dx, dgamma, dbeta).
"""
import numpy as np


class BatchNormLayer:
    def __init__(self, num_units, epsilon=1e-4, alpha=0.1):
        self.num_units = num_units
        self.epsilon = epsilon
        self.alpha = alpha
        self.gamma = np.ones(num_units)
        self.beta = np.zeros(num_units)
        self.mean = np.zeros(num_units)
        self.inv_std = np.ones(num_units)

    def get_output_for(self, x, deterministic=False):
        p = (1, self.num_units) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        if deterministic:
            mean, inv_std = self.mean, self.inv_std
        else:
            mean = x.mean(axis=axes)
            std = x.std(axis=axes)
            inv_std = 1.0 / (std + self.epsilon)
            self.mean = (1 - self.alpha) * self.mean + self.alpha * mean
            self.inv_std = (1 - self.alpha) * self.inv_std + self.alpha * inv_std
            xc = x - mean.reshape(p)
            self._cache = (xc * inv_std.reshape(p), inv_std, std, axes, p)
        out = (x - mean.reshape(p)) * (self.gamma * inv_std).reshape(p) + self.beta.reshape(p)
        return out.astype(x.dtype, copy=False)

    def backward(self, dout):
        x_hat, inv_std, std, axes, p = self._cache
        m = dout.size // self.num_units
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * x_hat).sum(axis=axes)
        dxh = dout * self.gamma.reshape(p)
        # y depends on x through (x - mean) and through std; d std / d x = (x - mean) / (m std)
        k = (inv_std * std).reshape(p)           # std / (std + eps)
        dx = inv_std.reshape(p) * (dxh - dxh.mean(axis=axes, keepdims=True)
                                   - x_hat * (dxh * x_hat).mean(axis=axes, keepdims=True) / k)
        return dx.astype(dout.dtype, copy=False), dgamma, dbeta
