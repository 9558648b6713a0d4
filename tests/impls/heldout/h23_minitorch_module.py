"""A NumPy clone of torch.nn.Module, as "rebuild PyTorch" teaching projects write it:
parameters and buffers live in `_parameters` / `_buffers` dictionaries and are reached
through `__getattr__`; Parameters carry `.data` and `.grad`; `.train()` / `.eval()` set
`training`.  BatchNorm1d takes (N, C) or (N, C, L), BatchNorm2d takes (N, C, H, W) only,
exactly like their PyTorch namesakes; the hand-written `backward(grad_output)` fills
`weight.grad` / `bias.grad` and returns the input gradient.
"""
import numpy as np


class Parameter:
    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = None

    def __repr__(self):
        return f"Parameter containing:\n{self.data!r}"


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def register_buffer(self, name, value):
        self._buffers[name] = value

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter "
                                f"'{name}' (Parameter or None expected)")
            params[name] = None
        elif name in self.__dict__.get("_buffers", {}):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for store in ("_parameters", "_buffers"):
            d = self.__dict__.get(store, {})
            if name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def train(self, mode=True):
        object.__setattr__(self, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def parameters(self):
        return list(self._parameters.values())

    def state_dict(self):
        out = {k: v.data.copy() for k, v in self._parameters.items()}
        out.update({k: np.copy(v) for k, v in self._buffers.items()})
        return out

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


class _BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = Parameter(np.ones(num_features))
        self.bias = Parameter(np.zeros(num_features))
        self.register_buffer("running_mean", np.zeros(num_features))
        self.register_buffer("running_var", np.ones(num_features))
        self.register_buffer("num_batches_tracked", 0)

    def _check_input_dim(self, x):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        shape = (1, self.num_features) + (1,) * (input.ndim - 2)
        axes = (0,) + tuple(range(2, input.ndim))
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = input.size // self.num_features
            mean = input.mean(axis=axes)
            var = input.var(axis=axes)
            if self.training and self.track_running_stats:
                self.num_batches_tracked = self.num_batches_tracked + 1
                f = (1.0 / self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean = (1 - f) * self.running_mean + f * mean
                self.running_var = (1 - f) * self.running_var + f * var * (n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        invstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (input - mean.reshape(shape)) * invstd.reshape(shape)
        self._ctx = (xhat, invstd, axes, shape)
        out = xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)
        return out.astype(input.dtype, copy=False)

    def backward(self, grad_output):
        xhat, invstd, axes, shape = self._ctx
        n = grad_output.size // self.num_features
        gsum = grad_output.sum(axis=axes)
        dotp = (grad_output * xhat).sum(axis=axes)
        self.bias.grad = gsum
        self.weight.grad = dotp
        k = (self.weight.data * invstd).reshape(shape)
        grad_input = k * (grad_output - (gsum / n).reshape(shape) - xhat * (dotp / n).reshape(shape))
        return grad_input.astype(grad_output.dtype, copy=False)


class BatchNorm1d(_BatchNorm):
    def _check_input_dim(self, x):
        if x.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    def _check_input_dim(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")
