"""Channels-last group normalization with (1, 1, 1, C) parameters, in NumPy.

An image model kept NHWC end to end: input (N, ..., C), the parameters ``gamma`` (ones) and
``beta`` (zeros) stored already shaped (1, 1, 1, C) to broadcast over NHWC, and viewed flat for
other ranks; ``backward`` leaves ``dgamma``, ``dbeta`` in the same (1, 1, 1, C) shape. The C
channels are split into ``groups`` groups, each normalized per sample over its channels and all
positions.

``GroupNorm(groups, channels, eps=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class GroupNorm:
    def __init__(self, groups, channels, eps=1e-5):
        self.groups = groups
        self.channels = channels
        self.eps = eps
        self.gamma = np.ones((1, 1, 1, channels))
        self.beta = np.zeros((1, 1, 1, channels))
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self._c = None

    def _split(self, a):
        # (N, positions, channels per group, groups)
        return a.reshape(a.shape[0], -1, self.channels // self.groups, self.groups)

    def forward(self, x):
        a = np.asarray(x, dtype=np.float64)
        s = self._split(a)
        mu = s.mean(axis=(1, 2), keepdims=True)
        var = s.var(axis=(1, 2), keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xh = ((s - mu) * rstd).reshape(a.shape)
        self._c = (xh, rstd)
        gam = np.asarray(self.gamma, np.float64).reshape(-1)
        bet = np.asarray(self.beta, np.float64).reshape(-1)
        return (xh * gam + bet).astype(x.dtype)

    def backward(self, dy):
        xh, rstd = self._c
        g = np.asarray(dy, dtype=np.float64)
        c = self.channels
        self.dgamma = (g * xh).reshape(-1, c).sum(0).reshape(1, 1, 1, c).astype(dy.dtype)
        self.dbeta = g.reshape(-1, c).sum(0).reshape(1, 1, 1, c).astype(dy.dtype)
        gg = self._split(g * np.asarray(self.gamma, np.float64).reshape(-1))
        hh = self._split(xh)
        dx = rstd * (
            gg
            - gg.mean(axis=(1, 2), keepdims=True)
            - hh * (gg * hh).mean(axis=(1, 2), keepdims=True)
        )
        return dx.reshape(g.shape).astype(dy.dtype)
