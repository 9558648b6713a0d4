"""A tiny layer framework: Param objects, Module with train()/eval(), Sequential container.

The batch norm is verified as the (only) layer of a Sequential model.
"""
import numpy as np


class Param:
    def __init__(self, value):
        self.value = value
        self.grad = np.zeros_like(value)


class Module:
    def __init__(self):
        self.training = True

    def children(self):
        return []

    def train(self, flag=True):
        self.training = flag
        for ch in self.children():
            ch.train(flag)
        return self

    def eval(self):
        return self.train(False)

    def parameters(self):
        out = []
        for ch in self.children():
            out.extend(ch.parameters())
        return out


class BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.weight = Param(np.ones(num_features))
        self.bias = Param(np.zeros(num_features))
        self.buffers = {"running_mean": np.zeros(num_features),
                        "running_var": np.ones(num_features)}
        self.eps = eps
        self.momentum = momentum
        self._cache = None

    def parameters(self):
        return [self.weight, self.bias]

    def _view(self, v, x):
        shape = [1] * x.ndim
        shape[1] = -1
        return v.reshape(shape).astype(x.dtype)

    def forward(self, x):
        red = tuple(i for i in range(x.ndim) if i != 1)
        w, b = self._view(self.weight.value, x), self._view(self.bias.value, x)
        if self.training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=red)
            var = x.var(axis=red)
            xhat = (x - self._view(mean, x)) / np.sqrt(self._view(var, x) + x.dtype.type(self.eps))
            self.buffers["running_mean"] = (1 - self.momentum) * self.buffers["running_mean"] + self.momentum * mean
            self.buffers["running_var"] = (1 - self.momentum) * self.buffers["running_var"] + self.momentum * var * (n / max(n - 1, 1))
            self._cache = (xhat, var, red)
        else:
            xhat = (x - self._view(self.buffers["running_mean"], x)) / np.sqrt(
                self._view(self.buffers["running_var"], x) + x.dtype.type(self.eps))
        return w * xhat + b

    def backward(self, dout):
        xhat, var, red = self._cache
        n = dout.size // dout.shape[1]
        self.weight.grad = np.sum(dout * xhat, axis=red)
        self.bias.grad = np.sum(dout, axis=red)
        w = self._view(self.weight.value, dout)
        inv = 1.0 / np.sqrt(self._view(var, dout) + dout.dtype.type(self.eps))
        g = dout * w
        return (inv / n) * (n * g - self._view(g.sum(axis=red), dout)
                            - xhat * self._view((g * xhat).sum(axis=red), dout))


class Sequential(Module):
    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def children(self):
        return self.layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


def model(num_features):
    return Sequential(BatchNorm(num_features))
