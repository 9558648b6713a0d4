"""Instance norm with an is_training flag that keeps running statistics but never uses them
(wrong: eval normalizes with the input's own statistics)."""
import numpy as np


class InstanceNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum
        self.is_training = True

    def forward(self, x):
        C = x.shape[1]
        ax = tuple(range(2, x.ndim))
        shp = (1, C) + (1,) * (x.ndim - 2)
        mean = x.mean(axis=ax, keepdims=True)
        var = x.var(axis=ax, keepdims=True)
        if self.is_training:
            k = int(np.prod([x.shape[a] for a in ax]))
            self.running_mean += self.momentum * (mean.mean(axis=0).ravel() - self.running_mean)
            self.running_var += self.momentum * ((var * k / (k - 1)).mean(axis=0).ravel() - self.running_var)
        self.x_hat = (x - mean) / np.sqrt(var + self.eps)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.ax = ax
        return self.gamma.reshape(shp) * self.x_hat + self.beta.reshape(shp)

    def backward(self, dy):
        C = dy.shape[1]
        shp = (1, C) + (1,) * (dy.ndim - 2)
        self.dgamma = (dy * self.x_hat).sum(axis=(0,) + self.ax)
        self.dbeta = dy.sum(axis=(0,) + self.ax)
        dxh = dy * self.gamma.reshape(shp)
        return self.rstd * (dxh - dxh.mean(axis=self.ax, keepdims=True)
                            - self.x_hat * (dxh * self.x_hat).mean(axis=self.ax, keepdims=True))
