"""Group normalization as a Caffe layer, in NumPy, behind a small pycaffe-like net.

Caffe keeps every array in a Blob (``data`` and ``diff``). A layer's parameters are its
``blobs`` (here the per-channel scale and bias), ``Forward(bottom, top)`` reads the bottom
blobs' data and writes the top blobs' data, ``Backward(top, propagate_down, bottom)`` reads
the top diffs, writes the bottom diffs and ADDS into its parameters' diffs, which the solver
clears (``Net::ClearParamDiffs``) before each iteration.
"""

from collections import OrderedDict

import numpy as np


class Blob:
    def __init__(self, *shape):
        self.reshape(*shape)

    def reshape(self, *shape):
        self.data = np.zeros(shape, dtype=np.float64)
        self.diff = np.zeros(shape, dtype=np.float64)

    @property
    def shape(self):
        return self.data.shape

    @property
    def count(self):
        return self.data.size


class GroupNormLayer:
    """``group_norm_param { group_num: G eps: 1e-5 }``; channels on axis 1."""

    def __init__(self, channels, group_num=4, eps=1e-5):
        if channels % group_num:
            raise ValueError(f"channels {channels} not divisible by group_num {group_num}")
        self.group_num = group_num
        self.eps = eps
        self.blobs = [Blob(channels), Blob(channels)]
        self.blobs[0].data[...] = 1.0  # scale filler: constant 1
        self.param_propagate_down = [True, True]

    def Reshape(self, bottom, top):
        top[0].reshape(*bottom[0].shape)

    def _grouped(self, a):
        """(N, C, ...) -> (N, G, values of the group)."""
        n, c = a.shape[:2]
        g = self.group_num
        return a.reshape(n, c // g, g, -1).transpose(0, 2, 1, 3).reshape(n, g, -1)

    def _ungrouped(self, a, shape):
        n, c = shape[:2]
        g = self.group_num
        return a.reshape(n, g, c // g, -1).transpose(0, 2, 1, 3).reshape(shape)

    def _bshape(self, shape):
        return (1, shape[1]) + (1,) * (len(shape) - 2)

    def Forward(self, bottom, top):
        x = bottom[0].data
        xg = self._grouped(x)
        mean = xg.mean(axis=2, keepdims=True)
        centred = xg - mean
        var = (centred * centred).mean(axis=2, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = self._ungrouped(centred * rstd, x.shape)
        self.rstd = rstd
        b = self._bshape(x.shape)
        top[0].data[...] = self.x_hat * self.blobs[0].data.reshape(b) + self.blobs[1].data.reshape(
            b
        )

    def Backward(self, top, propagate_down, bottom):
        dy = top[0].diff
        axes = (0, *tuple(range(2, dy.ndim)))
        if self.param_propagate_down[0]:
            self.blobs[0].diff += (dy * self.x_hat).sum(axis=axes)
        if self.param_propagate_down[1]:
            self.blobs[1].diff += dy.sum(axis=axes)
        if propagate_down[0]:
            g = self._grouped(dy * self.blobs[0].data.reshape(self._bshape(dy.shape)))
            xh = self._grouped(self.x_hat)
            dx = self.rstd * (
                g - g.mean(axis=2, keepdims=True) - xh * (g * xh).mean(axis=2, keepdims=True)
            )
            bottom[0].diff[...] = self._ungrouped(dx, dy.shape)


class GroupNormNet:
    """A one-layer net: data -> GroupNorm -> gn, driven like pycaffe's Net."""

    def __init__(self, num_channels, num_groups=4, eps=1e-5):
        self.layer = GroupNormLayer(num_channels, group_num=num_groups, eps=eps)
        self.blobs = OrderedDict(data=Blob(), gn=Blob())
        self.params = OrderedDict(gn=self.layer.blobs)

    def forward(self, data):
        self.blobs["data"].reshape(*data.shape)
        self.blobs["data"].data[...] = data
        self.layer.Reshape([self.blobs["data"]], [self.blobs["gn"]])
        self.layer.Forward([self.blobs["data"]], [self.blobs["gn"]])
        return self.blobs["gn"].data.astype(data.dtype)

    def backward(self, top_diff):
        self.blobs["gn"].diff[...] = top_diff
        self.layer.Backward([self.blobs["gn"]], [True], [self.blobs["data"]])
        return self.blobs["data"].diff.astype(top_diff.dtype)

    def clear_param_diffs(self):
        for blob in self.layer.blobs:
            blob.diff[...] = 0.0
