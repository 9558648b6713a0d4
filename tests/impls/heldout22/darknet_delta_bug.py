"""Darknet's batchnorm layer (batchnorm_layer.c / blas.c) ported to NumPy, loops kept.

Buffers are flat and channels-first: index = (b * filters + f) * spatial + i. The layer
struct keeps scales / biases, mean / variance of the last batch, rolling_mean /
rolling_variance (calloc'ed, so they start at 0) updated as .99 * rolling + .01 * batch,
and x / x_norm for the backward. forward(input, train) mirrors net.train (1 or 0).
"""

import numpy as np


def mean_cpu(x, batch, filters, spatial, mean):
    scale = 1.0 / (batch * spatial)
    for i in range(filters):
        mean[i] = 0
        for j in range(batch):
            index = (j * filters + i) * spatial
            mean[i] += x[index : index + spatial].sum()
        mean[i] *= scale


def variance_cpu(x, mean, batch, filters, spatial, variance):
    scale = 1.0 / (batch * spatial)
    for i in range(filters):
        variance[i] = 0
        for j in range(batch):
            index = (j * filters + i) * spatial
            d = x[index : index + spatial] - mean[i]
            variance[i] += (d * d).sum()
        variance[i] *= scale


def normalize_cpu(x, mean, variance, batch, filters, spatial, eps):
    for b in range(batch):
        for f in range(filters):
            index = (b * filters + f) * spatial
            x[index : index + spatial] = (x[index : index + spatial] - mean[f]) / np.sqrt(
                variance[f] + eps
            )


def scale_bias(output, scales, batch, n, size):
    for b in range(batch):
        for i in range(n):
            index = (b * n + i) * size
            output[index : index + size] *= scales[i]


def add_bias(output, biases, batch, n, size):
    for b in range(batch):
        for i in range(n):
            index = (b * n + i) * size
            output[index : index + size] += biases[i]


def backward_bias(bias_updates, delta, batch, n, size):
    for b in range(batch):
        for i in range(n):
            index = (b * n + i) * size
            bias_updates[i] += delta[index : index + size].sum()


def backward_scale_cpu(x_norm, delta, batch, n, size, scale_updates):
    for f in range(n):
        total = 0.0
        for b in range(batch):
            index = (b * n + f) * size
            total += (delta[index : index + size] * x_norm[index : index + size]).sum()
        scale_updates[f] += total


def mean_delta_cpu(delta, variance, batch, filters, spatial, eps, mean_delta):
    for i in range(filters):
        mean_delta[i] = 0
        for j in range(batch):
            index = (j * filters + i) * spatial
            mean_delta[i] += delta[index : index + spatial].sum()
        mean_delta[i] *= -1.0 / np.sqrt(variance[i] + eps)


def variance_delta_cpu(x, delta, mean, variance, batch, filters, spatial, eps, variance_delta):
    for i in range(filters):
        variance_delta[i] = 0
        for j in range(batch):
            index = (j * filters + i) * spatial
            variance_delta[i] += (
                delta[index : index + spatial] * (x[index : index + spatial] - mean[i])
            ).sum()
        variance_delta[i] *= -0.5 * (variance[i] + eps) ** -1.5


def normalize_delta_cpu(
    x, mean, variance, mean_delta, variance_delta, batch, filters, spatial, eps, delta
):
    for j in range(batch):
        for f in range(filters):
            index = (j * filters + f) * spatial
            s = slice(index, index + spatial)
            delta[s] = (
                delta[s] / np.sqrt(variance[f] + eps)
                + variance_delta[f] * (x[s] - mean[f]) / (spatial * batch)
                + mean_delta[f] / (spatial * batch)
            )


class BatchnormLayer:
    """make_batchnorm_layer(batch, w, h, c): sizes taken from the first input here."""

    def __init__(self, c):
        self.out_c = self.c = c
        self.scales = np.ones(c)
        self.biases = np.zeros(c)
        self.scale_updates = np.zeros(c)
        self.bias_updates = np.zeros(c)
        self.mean = np.zeros(c)
        self.variance = np.zeros(c)
        self.mean_delta = np.zeros(c)
        self.variance_delta = np.zeros(c)
        self.rolling_mean = np.zeros(c)
        self.rolling_variance = np.zeros(c)
        self.eps = 0.00001

    def forward(self, input, train=1):
        self.in_shape = input.shape
        self.dtype = input.dtype
        self.batch = input.shape[0]
        self.spatial = int(np.prod(input.shape[2:], dtype=np.int64))
        self.train = train
        output = np.ascontiguousarray(input, dtype=np.float64).reshape(-1).copy()
        if train:
            mean_cpu(output, self.batch, self.out_c, self.spatial, self.mean)
            variance_cpu(output, self.mean, self.batch, self.out_c, self.spatial, self.variance)
            self.rolling_mean *= 0.99
            self.rolling_mean += 0.01 * self.mean
            self.rolling_variance *= 0.99
            self.rolling_variance += 0.01 * self.variance
            self.x = output.copy()
            normalize_cpu(
                output, self.mean, self.variance, self.batch, self.out_c, self.spatial, self.eps
            )
            self.x_norm = output.copy()
        else:
            normalize_cpu(
                output,
                self.rolling_mean,
                self.rolling_variance,
                self.batch,
                self.out_c,
                self.spatial,
                self.eps,
            )
            self.x_norm = output.copy()
        scale_bias(output, self.scales, self.batch, self.out_c, self.spatial)
        add_bias(output, self.biases, self.batch, self.out_c, self.spatial)
        return output.reshape(self.in_shape).astype(self.dtype)

    def backward(self, delta):
        """backward_batchnorm_layer: returns net.delta. The optimizer keeps the momentum,
        so the updates are zeroed here first (one backward per update)."""
        d = np.ascontiguousarray(delta, dtype=np.float64).reshape(-1).copy()
        self.scale_updates[:] = 0
        self.bias_updates[:] = 0
        backward_bias(self.bias_updates, d, self.batch, self.out_c, self.spatial)
        backward_scale_cpu(self.x_norm, d, self.batch, self.out_c, self.spatial, self.scale_updates)
        scale_bias(d, self.scales, self.batch, self.out_c, self.spatial)
        if not self.train:
            scale_bias(
                d,
                1.0 / np.sqrt(self.rolling_variance + self.eps),
                self.batch,
                self.out_c,
                self.spatial,
            )
            return d.reshape(self.in_shape).astype(delta.dtype)
        mean_delta_cpu(
            d, self.variance, self.batch, self.out_c, self.spatial, self.eps, self.mean_delta
        )
        variance_delta_cpu(
            self.x,
            d,
            self.mean,
            self.variance,
            self.batch,
            self.out_c,
            self.spatial,
            self.eps,
            self.variance_delta,
        )
        normalize_delta_cpu(
            self.x,
            self.mean,
            self.variance,
            self.mean_delta,
            self.variance_delta,
            self.batch,
            self.out_c,
            self.spatial,
            self.eps,
            d,
        )
        return d.reshape(self.in_shape).astype(delta.dtype)
