"""A layer in the "params / grads lists" style whose optimizer pairs the lists by index:
``step(lr)`` does ``for p, g in zip(self.params, self.grads, strict=True): p -= lr * g``.
``backward(dout)`` returns dx and refills ``self.grads``.

WRONG (one mistake): ``self.params`` is ``[gamma, beta]`` but the backward fills
``self.grads = [dbeta, dgamma]`` (copied from a beta-first layer), so each gradient sits beside
the other parameter and ``step`` applies Σdy to gamma and Σdy·x_hat to beta. The values are
right; dx, forward, running statistics (Keras-style: momentum 0.9 on the old value, biased
variance) and eval are right. ``forward(x, inference=False)``.
"""

import numpy as np


class BatchNorm:
    def __init__(self, size, momentum=0.9, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.params = [np.ones(size), np.zeros(size)]  # gamma, beta
        self.grads = [np.zeros(size), np.zeros(size)]
        self.running_mean = np.zeros(size)
        self.running_var = np.ones(size)

    def forward(self, x, inference=False):
        gamma, beta = self.params
        xf = x.astype(np.float64)
        red = (0, *range(2, x.ndim))
        rs = (1, -1) + (1,) * (x.ndim - 2)
        if inference:
            mu, var = self.running_mean, self.running_var
        else:
            mu = xf.mean(axis=red)
            var = xf.var(axis=red)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        sd = np.sqrt(var + self.eps)
        xh = (xf - mu.reshape(rs)) / sd.reshape(rs)
        self.cache = (inference, xh, sd, red, rs, x.dtype)
        return (gamma.reshape(rs) * xh + beta.reshape(rs)).astype(x.dtype)

    def backward(self, dout):
        inference, xh, sd, red, rs, dt = self.cache
        gamma = self.params[0]
        g = dout.astype(np.float64)
        dbeta = g.sum(axis=red)
        dgamma = (g * xh).sum(axis=red)
        self.grads = [dbeta.astype(dt), dgamma.astype(dt)]
        if inference:
            dx = g * (gamma / sd).reshape(rs)
        else:
            m = g.size // g.shape[1]
            dx = (
                (gamma / sd).reshape(rs) / m * (m * g - dbeta.reshape(rs) - xh * dgamma.reshape(rs))
            )
        return dx.astype(dt)

    def step(self, lr=0.01):
        for p, g in zip(self.params, self.grads, strict=True):
            p -= lr * g
