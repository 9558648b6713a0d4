"""A Caffe-style BatchNorm layer followed by a Scale layer, in NumPy.

Blobs hold `data` and `diff`. BatchNorm has no affine part; its three blobs are the
moving-average SUMS of the mean and of the (unbiased) variance and the scale factor that
divides them: every training pass does s = s * maf + 1, mean_sum = mean_sum * maf + mu,
var_sum = var_sum * maf + m / (m - 1) * var; at test time (use_global_stats) the statistics
are mean_sum / s and var_sum / s. Scale (bias_term: true) holds gamma and beta. Parameter
diffs accumulate, as in Caffe, until the net's ClearParamDiffs().

`BNScaleNet` is a small pycaffe-like net of the two layers: phase TRAIN or TEST,
forward(data) -> top data, backward(top_diff) -> bottom diff.
"""

import numpy as np

TRAIN, TEST = 0, 1


class Blob:
    def __init__(self, shape=(0,)):
        self.data = np.zeros(shape)
        self.diff = np.zeros(shape)

    def reshape(self, shape):
        if self.data.shape != tuple(shape):
            self.data = np.zeros(shape)
            self.diff = np.zeros(shape)

    @property
    def shape(self):
        return self.data.shape


def _axes(shape):
    return (0, *tuple(range(2, len(shape)))), (1, -1) + (1,) * (len(shape) - 2)


class BatchNormLayer:
    def __init__(
        self, channels, moving_average_fraction=0.999, eps=1e-5, use_global_stats=None, phase=TRAIN
    ):
        self.moving_average_fraction = moving_average_fraction
        self.eps = eps
        self.param_use_global_stats = use_global_stats
        self.phase = phase
        self.blobs = [Blob((channels,)), Blob((channels,)), Blob((1,))]

    def use_global_stats(self):
        if self.param_use_global_stats is not None:
            return self.param_use_global_stats
        return self.phase == TEST

    def Reshape(self, bottom, top):
        top[0].reshape(bottom[0].shape)

    def Forward(self, bottom, top):
        self.Reshape(bottom, top)
        x = bottom[0].data
        axes, b = _axes(x.shape)
        if self.use_global_stats():
            mean = self.blobs[0].data
            var = self.blobs[1].data
        else:
            mean = x.mean(axis=axes)
            var = ((x - mean.reshape(b)) ** 2).mean(axis=axes)
            m = x.size // x.shape[1]
            maf = self.moving_average_fraction
            self.blobs[2].data[0] = self.blobs[2].data[0] * maf + 1
            self.blobs[0].data = self.blobs[0].data * maf + mean
            correction = m / (m - 1.0) if m > 1 else 1.0
            self.blobs[1].data = self.blobs[1].data * maf + correction * var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_norm = (x - mean.reshape(b)) * self.inv_std.reshape(b)
        top[0].data = self.x_norm.copy()

    def Backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        dy = top[0].diff
        axes, b = _axes(dy.shape)
        if self.use_global_stats():
            bottom[0].diff = dy * self.inv_std.reshape(b)
            return
        xn = self.x_norm
        d = dy - dy.mean(axis=axes).reshape(b) - xn * (dy * xn).mean(axis=axes).reshape(b)
        bottom[0].diff = d * self.inv_std.reshape(b)


class ScaleLayer:
    def __init__(self, channels):
        self.blobs = [Blob((channels,)), Blob((channels,))]
        self.blobs[0].data[:] = 1.0

    def Forward(self, bottom, top):
        top[0].reshape(bottom[0].shape)
        _, b = _axes(bottom[0].shape)
        top[0].data = bottom[0].data * self.blobs[0].data.reshape(b) + self.blobs[1].data.reshape(b)

    def Backward(self, top, propagate_down, bottom):
        dy = top[0].diff
        axes, b = _axes(dy.shape)
        self.blobs[0].diff += (dy * bottom[0].data).sum(axis=axes)
        self.blobs[1].diff += dy.sum(axis=axes)
        if propagate_down[0]:
            bottom[0].diff = dy * self.blobs[0].data.reshape(b)


class BNScaleNet:
    def __init__(self, channels, phase=TRAIN):
        self.phase = phase
        self.bn = BatchNormLayer(channels, phase=phase)
        self.scale = ScaleLayer(channels)
        self.blobs = {"data": Blob(), "bn": Blob(), "scale": Blob()}
        self.params = {"bn": self.bn.blobs, "scale": self.scale.blobs}

    def forward(self, data):
        self.bn.phase = self.phase
        self.blobs["data"].reshape(data.shape)
        self.blobs["data"].data = data.astype(np.float64)
        self.bn.Forward([self.blobs["data"]], [self.blobs["bn"]])
        self.scale.Forward([self.blobs["bn"]], [self.blobs["scale"]])
        return self.blobs["scale"].data.astype(data.dtype)

    def backward(self, top_diff):
        self.blobs["scale"].diff = top_diff.astype(np.float64)
        self.scale.Backward([self.blobs["scale"]], [True], [self.blobs["bn"]])
        self.bn.Backward([self.blobs["bn"]], [True], [self.blobs["data"]])
        return self.blobs["data"].diff.astype(top_diff.dtype)

    def clear_param_diffs(self):
        for blobs in self.params.values():
            for blob in blobs:
                blob.diff[...] = 0
