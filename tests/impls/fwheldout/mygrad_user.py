"""MyGrad: mygrad.nnet.batchnorm wrapped in a small class that keeps running statistics."""

import mygrad as mg
import numpy as np
from mygrad.nnet import batchnorm


class MGBatchNorm:
    """Documented as PyTorch's convention (momentum 0.1 = weight of the new batch, unbiased
    running variance). BUG: the update weighs the OLD value by momentum (Keras' meaning)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = mg.tensor(np.ones(num_features))
        self.beta = mg.tensor(np.zeros(num_features))
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def __call__(self, x, training=True):
        data = x.data if isinstance(x, mg.Tensor) else np.asarray(x)
        axes = tuple(i for i in range(data.ndim) if i != 1)
        shape = [1, -1] + [1] * (data.ndim - 2)
        if training:
            m = data.size // data.shape[1]
            mean = data.mean(axis=axes)
            var = data.var(axis=axes) * m / (m - 1)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
            return batchnorm(x, gamma=self.gamma, beta=self.beta, eps=self.eps)
        inv = 1.0 / np.sqrt(self.running_var + self.eps)
        xhat = (x - self.running_mean.reshape(shape)) * inv.reshape(shape)
        return xhat * self.gamma.reshape(shape) + self.beta.reshape(shape)
