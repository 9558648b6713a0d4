"""Instance normalization layer, Keras-like (wrong: biased variance in the moving update)."""
import numpy as np


class InstanceNormalization:
    def __init__(self, channels, epsilon=1e-5, momentum=0.1):
        self.epsilon = epsilon
        self.momentum = momentum
        self.gamma = np.ones(channels)
        self.beta = np.zeros(channels)
        self.moving_mean = np.zeros(channels)
        self.moving_variance = np.ones(channels)
        self.grads = {}

    def call(self, inputs, training=False):
        spatial = tuple(range(2, inputs.ndim))
        bshape = (1, inputs.shape[1]) + (1,) * (inputs.ndim - 2)
        if training:
            mean = np.mean(inputs, axis=spatial, keepdims=True)
            variance = np.var(inputs, axis=spatial, keepdims=True)
            batch_mean = np.mean(mean, axis=0).ravel()
            batch_var = np.mean(variance, axis=0).ravel()   # population variance
            self.moving_mean = self.moving_mean * (1 - self.momentum) + batch_mean * self.momentum
            self.moving_variance = self.moving_variance * (1 - self.momentum) + batch_var * self.momentum
        else:
            mean = self.moving_mean.reshape(bshape)
            variance = self.moving_variance.reshape(bshape)
        self._std_inv = 1.0 / np.sqrt(variance + self.epsilon)
        self._normed = (inputs - mean) * self._std_inv
        self._spatial = spatial
        return self.gamma.reshape(bshape) * self._normed + self.beta.reshape(bshape)

    forward = call

    def backward(self, grad):
        bshape = (1, grad.shape[1]) + (1,) * (grad.ndim - 2)
        sp = self._spatial
        self.grads["gamma"] = np.sum(grad * self._normed, axis=(0,) + sp)
        self.grads["beta"] = np.sum(grad, axis=(0,) + sp)
        dn = grad * self.gamma.reshape(bshape)
        return self._std_inv * (dn - dn.mean(axis=sp, keepdims=True)
                                - self._normed * (dn * self._normed).mean(axis=sp, keepdims=True))
