"""InstanceNorm2d in NumPy, shaped like a torch module (correct)."""
import numpy as np


class InstanceNorm2d:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, track_running_stats=True):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        n, c = x.shape[:2]
        axes = tuple(range(2, x.ndim))
        w = self.weight.reshape((1, c) + (1,) * (x.ndim - 2))
        b = self.bias.reshape((1, c) + (1,) * (x.ndim - 2))
        if self.training or not self.track_running_stats:
            mu = x.mean(axis=axes, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                cnt = int(np.prod(x.shape[2:]))
                inst_var = var * cnt / (cnt - 1)
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu.reshape(n, c).mean(0)
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * inst_var.reshape(n, c).mean(0)
        else:
            shape = (1, c) + (1,) * (x.ndim - 2)
            mu = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        self.inv = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu) * self.inv
        self.axes = axes
        return w * self.xhat + b

    __call__ = forward

    def backward(self, dout):
        c = dout.shape[1]
        red = (0,) + self.axes
        self.dweight = (dout * self.xhat).sum(axis=red)
        self.dbias = dout.sum(axis=red)
        g = dout * self.weight.reshape((1, c) + (1,) * (dout.ndim - 2))
        m = int(np.prod(dout.shape[2:]))
        dx = self.inv / m * (m * g - g.sum(axis=self.axes, keepdims=True)
                             - self.xhat * (g * self.xhat).sum(axis=self.axes, keepdims=True))
        return dx
