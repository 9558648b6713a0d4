"""A NumPy re-implementation of torch.nn.BatchNorm2d for a "build PyTorch yourself" project.
Module keeps parameters in `_parameters` and buffers in `_buffers` (reached through
__getattr__), Parameters have `.data` and `.grad`, .train()/.eval() set `training`.
Follows PyTorch's documented behaviour: momentum 0.1 is the share of the new batch.
"""
import numpy as np


class Parameter:
    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = None


class Module:
    def __init__(self):
        self.__dict__["_parameters"] = {}
        self.__dict__["_buffers"] = {}
        self.__dict__["training"] = True

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        else:
            self.__dict__[name] = value

    def __getattr__(self, name):
        if name in self.__dict__["_parameters"]:
            return self.__dict__["_parameters"][name]
        if name in self.__dict__["_buffers"]:
            return self.__dict__["_buffers"][name]
        raise AttributeError(name)

    def register_buffer(self, name, tensor):
        self._buffers[name] = tensor

    def train(self, mode=True):
        self.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args):
        return self.forward(*args)


class BatchNorm2d(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = Parameter(np.ones(num_features))
        self.bias = Parameter(np.zeros(num_features))
        self.register_buffer("running_mean", np.zeros(num_features))
        self.register_buffer("running_var", np.ones(num_features))

    def forward(self, x):
        if x.ndim not in (2, 3, 4, 5):
            raise ValueError(f"expected 2D to 5D input (got {x.ndim}D input)")
        red = (0,) + tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mean = x.mean(axis=red)
            var = x.var(axis=red)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
        else:
            mean, var = self.running_mean, self.running_var
        invstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean.reshape(shp)) * invstd.reshape(shp)
        self._saved = (xhat, invstd, red, shp)
        return (xhat * self.weight.data.reshape(shp) + self.bias.data.reshape(shp)).astype(x.dtype, copy=False)

    def backward(self, grad_output):
        xhat, invstd, red, shp = self._saved
        n = grad_output.size // self.num_features
        self.bias.grad = grad_output.sum(axis=red)
        self.weight.grad = (grad_output * xhat).sum(axis=red)
        gi = (self.weight.data * invstd / n).reshape(shp) * (
            n * grad_output - self.bias.grad.reshape(shp) - xhat * self.weight.grad.reshape(shp))
        return gi.astype(grad_output.dtype, copy=False)
