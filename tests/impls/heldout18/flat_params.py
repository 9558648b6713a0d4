"""A BN layer of a from-scratch framework whose optimizer works on ONE flat parameter vector
(as for L-BFGS or an evolution strategy): `theta` holds [gamma | beta], `dtheta` the matching
gradient, `get_params()` / `set_params(vec)` / `get_grads()` exchange flat vectors. gamma,
beta, dgamma, dbeta are properties viewing slices of those vectors (gamma and beta settable);
the moving statistics are kept the same way in one vector `stats` = [mean | var].
Keras convention: momentum 0.99 on the old value, biased variance, eps 1e-3. A boolean
attribute `is_training` switches train/eval. forward(x) -> y, backward(dy) -> dx.

No planted mistake.
"""

import numpy as np


class FlatBN:
    def __init__(self, n_features, eps=1e-3, momentum=0.99):
        self.n = n_features
        self.eps = eps
        self.momentum = momentum
        self.theta = np.concatenate([np.ones(n_features), np.zeros(n_features)])
        self.dtheta = np.zeros(2 * n_features)
        self.stats = np.concatenate([np.zeros(n_features), np.ones(n_features)])
        self.is_training = True

    # flat-vector interface used by the optimizer
    def get_params(self):
        return self.theta.copy()

    def set_params(self, vec):
        self.theta[:] = vec

    def get_grads(self):
        return self.dtheta.copy()

    # named views
    @property
    def gamma(self):
        return self.theta[: self.n]

    @gamma.setter
    def gamma(self, value):
        self.theta[: self.n] = value

    @property
    def beta(self):
        return self.theta[self.n :]

    @beta.setter
    def beta(self, value):
        self.theta[self.n :] = value

    @property
    def dgamma(self):
        return self.dtheta[: self.n]

    @property
    def dbeta(self):
        return self.dtheta[self.n :]

    @property
    def moving_mean(self):
        return self.stats[: self.n]

    @property
    def moving_var(self):
        return self.stats[self.n :]

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2), (0, *tuple(range(2, x.ndim)))

    def forward(self, x):
        bs, axes = self._shape(x)
        xd = np.asarray(x, dtype=np.float64)
        if self.is_training:
            mu = xd.mean(axis=axes)
            xc = xd - mu.reshape(bs)
            var = (xc * xc).mean(axis=axes)
            k = self.momentum
            self.stats[: self.n] = k * self.stats[: self.n] + (1 - k) * mu
            self.stats[self.n :] = k * self.stats[self.n :] + (1 - k) * var
        else:
            xc = xd - self.stats[: self.n].reshape(bs)
            var = self.stats[self.n :]
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd.reshape(bs)
        self._cache = (xhat, rstd, axes, bs, self.is_training)
        return (self.gamma.reshape(bs) * xhat + self.beta.reshape(bs)).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, axes, bs, training = self._cache
        g = np.asarray(dy, dtype=np.float64)
        self.dtheta[self.n :] = g.sum(axis=axes)
        self.dtheta[: self.n] = (g * xhat).sum(axis=axes)
        scale = (self.gamma * rstd).reshape(bs)
        if training:
            m = g.size // self.n
            dx = scale * (g - (self.dbeta.reshape(bs) + xhat * self.dgamma.reshape(bs)) / m)
        else:
            dx = scale * g
        return dx.astype(dy.dtype)
