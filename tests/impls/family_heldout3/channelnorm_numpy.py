"""A NumPy 'channels-first LayerNorm' for NCHW feature maps (as in ConvNeXt's downsampling
layers), with a hand-derived backward. gamma/beta are per channel."""

import numpy as np


class LayerNormChannelsFirst:
    def __init__(self, channels, eps=1e-6):
        self.eps = eps
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.dgamma = np.zeros(channels)
        self.dbeta = np.zeros(channels)
        self._cache = None

    def _bcast(self, v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        # normalize "across the channels" of every position
        ax = -1
        mu = x.mean(axis=ax, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=ax, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd
        self._cache = (xhat, rstd, ax)
        return xhat * self._bcast(self.gamma, x.ndim) + self._bcast(self.beta, x.ndim)

    def backward(self, dout):
        xhat, rstd, ax = self._cache
        others = tuple(i for i in range(dout.ndim) if i != 1)
        self.dgamma = (dout * xhat).sum(axis=others)
        self.dbeta = dout.sum(axis=others)
        g = dout * self._bcast(self.gamma, dout.ndim)
        dx = rstd * (
            g - g.mean(axis=ax, keepdims=True) - xhat * (g * xhat).mean(axis=ax, keepdims=True)
        )
        return dx
