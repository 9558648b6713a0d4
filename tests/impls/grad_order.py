"""BatchNorm layers whose backward hands back the parameters' gradients beta's first, as
Theano's gradient lists and Lasagne's ``grad`` do, and two planted mistakes on that theme.

``BetaFirst``: ``grad(x, dy) -> [dx, dbeta, dgamma]``, the list built from the parameters in the
order the layer lists them (``self.params = [beta, gamma]``): nothing in its code names the
order, so only behaviour says it. ``Mislabelled``: ``return dx, dgamma, dbeta`` where the value
named dgamma is Σ dy (the two computed the wrong way round): judged as its code names them, a
failure. ``BetaFirstNoXhat``: beta's first, and its dgamma misses x_hat (Σ dy·x instead of
Σ dy·x_hat): the order is found, the mistake is still a failure."""

import numpy as np


class BetaFirst:
    def __init__(self, num_features, epsilon=1e-5, alpha=0.1):
        self.epsilon, self.alpha = epsilon, alpha
        self.beta = np.zeros(num_features)
        self.gamma = np.ones(num_features)
        self.params = [self.beta, self.gamma]
        self.mean = np.zeros(num_features)
        self.var = np.ones(num_features)

    def _shape(self, x):
        return (0, *range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)

    def get_output_for(self, x, deterministic=False):
        axes, shape = self._shape(x)
        xd = x.astype(np.float64)
        if deterministic:
            mean, var = self.mean, self.var
        else:
            mean, var = xd.mean(axis=axes), xd.var(axis=axes)
            a = self.alpha
            self.mean[...] = (1 - a) * self.mean + a * mean
            self.var[...] = (1 - a) * self.var + a * var
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (xd - mean.reshape(shape)) * inv.reshape(shape)
        self._kept = (xhat, inv, axes, shape, deterministic)
        return (self.gamma.reshape(shape) * xhat + self.beta.reshape(shape)).astype(x.dtype)

    def _param_grads(self, g, xhat, axes):
        return [g.sum(axis=axes), (g * xhat).sum(axis=axes)]

    def grad(self, x, dy):
        xhat, inv, axes, shape, deterministic = self._kept
        g = dy.astype(np.float64)
        pg = self._param_grads(g, xhat, axes)
        w = self.gamma.reshape(shape) * inv.reshape(shape)
        if deterministic:
            dx = w * g
        else:
            n = g.size // g.shape[1]
            dx = w * (
                g
                - g.sum(axis=axes).reshape(shape) / n
                - xhat * (g * xhat).sum(axis=axes).reshape(shape) / n
            )
        return [dx.astype(x.dtype), *pg]


class BetaFirstNoXhat(BetaFirst):
    """Beta's first, with dgamma = Σ dy·x (x_hat forgotten): planted."""

    def _param_grads(self, g, xhat, axes):
        x = self._x
        return [g.sum(axis=axes), (g * x).sum(axis=axes)]

    def get_output_for(self, x, deterministic=False):
        self._x = x.astype(np.float64)
        return super().get_output_for(x, deterministic)


class Mislabelled(BetaFirst):
    """Named gamma's first, computed the other way round: planted."""

    def grad(self, x, dy):
        xhat, inv, axes, shape, deterministic = self._kept
        g = dy.astype(np.float64)
        dgamma = g.sum(axis=axes)
        dbeta = (g * xhat).sum(axis=axes)
        w = self.gamma.reshape(shape) * inv.reshape(shape)
        if deterministic:
            dx = w * g
        else:
            n = g.size // g.shape[1]
            dx = w * (g - dgamma.reshape(shape) / n - xhat * dbeta.reshape(shape) / n)
        return dx.astype(x.dtype), dgamma, dbeta
