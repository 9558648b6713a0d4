"""A Lasagne-style batch-normalization layer: the layer keeps a running *mean* and a running
*inverse standard deviation* (inv_std = 1 / sqrt(var + epsilon)), not a variance, and the
output is asked for with `get_output_for(x, deterministic=...)`: deterministic=True means
inference (use the averages), False means training (use and update batch statistics).

`alpha` is the share of the new batch in the running averages.  The backward pass was added
by hand for use without Theano.
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
        self.inv_std = np.ones(num_units)

    def _pattern(self, x):
        return (1, self.num_units) + (1,) * (x.ndim - 2)

    def get_output_for(self, x, deterministic=False, batch_norm_use_averages=None,
                       batch_norm_update_averages=None):
        use_averages = deterministic if batch_norm_use_averages is None else batch_norm_use_averages
        update_averages = (not deterministic) if batch_norm_update_averages is None \
            else batch_norm_update_averages
        p = self._pattern(x)
        axes = (0,) + tuple(range(2, x.ndim))
        if use_averages:
            mean, inv_std = self.mean, self.inv_std
        else:
            mean = x.mean(axis=axes)
            inv_std = 1.0 / np.sqrt(x.var(axis=axes) + self.epsilon)
            self._cache = ((x - mean.reshape(p)) * inv_std.reshape(p), inv_std, axes, p)
        if update_averages:
            batch_mean = x.mean(axis=axes)
            batch_inv_std = 1.0 / np.sqrt(x.var(axis=axes) + self.epsilon)
            self.mean = (1 - self.alpha) * self.mean + self.alpha * batch_mean
            self.inv_std = (1 - self.alpha) * self.inv_std + self.alpha * batch_inv_std
        out = (x - mean.reshape(p)) * (self.gamma * inv_std).reshape(p) + self.beta.reshape(p)
        return out.astype(x.dtype, copy=False)

    def backward(self, dout):
        """Gradients of the last training-mode output: (dx, dgamma, dbeta)."""
        x_hat, inv_std, axes, p = self._cache
        m = dout.size // self.num_units
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * x_hat).sum(axis=axes)
        dx = (self.gamma * inv_std).reshape(p) / m * (
            m * dout - dbeta.reshape(p) - x_hat * dgamma.reshape(p))
        return dx.astype(dout.dtype, copy=False), dgamma, dbeta
