"""Layer normalization with a log-scale gain, in NumPy.

Some flow and VAE code keeps a positive scale as its logarithm so that it can never change
sign: ``LayerNorm(dim, eps=1e-5)`` holds ``self.log_gamma`` (zeros, i.e. a gain of 1) and
``self.beta`` (zeros), and computes ``x_hat * exp(log_gamma) + beta`` over the last axis.
``backward(dy)`` returns dx and leaves the gradients of the layer's own parameters in
``self.grads``: ``"log_gamma"`` (d/d log_gamma = gain · Σ dy·x_hat) and ``"beta"``.
"""

import numpy as np


class LayerNorm:
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.log_gamma = np.zeros(dim)
        self.beta = np.zeros(dim)
        self.grads = {"log_gamma": np.zeros(dim), "beta": np.zeros(dim)}
        self.cache = None

    def forward(self, x):
        z = np.asarray(x, dtype=np.float64)
        mean = z.mean(axis=-1, keepdims=True)
        var = ((z - mean) ** 2).mean(axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        x_hat = (z - mean) * rstd
        gain = np.exp(np.asarray(self.log_gamma, np.float64))
        self.cache = (x_hat, rstd, gain)
        return (x_hat * gain + self.beta).astype(x.dtype)

    def backward(self, dy):
        x_hat, rstd, gain = self.cache
        d = np.asarray(dy, dtype=np.float64)
        d2 = d.reshape(-1, d.shape[-1])
        h2 = x_hat.reshape(-1, d.shape[-1])
        self.grads = {
            "log_gamma": (gain * (d2 * h2).sum(0)).astype(dy.dtype),
            "beta": d2.sum(0).astype(dy.dtype),
        }
        g = d * gain
        dx = rstd * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True))
        return dx.astype(dy.dtype)
