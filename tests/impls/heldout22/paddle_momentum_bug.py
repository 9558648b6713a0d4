"""paddle.nn.BatchNorm2D in PaddlePaddle's dygraph style, in NumPy.

Parameters `weight` / `bias`, buffers `_mean` / `_variance`; `momentum` is the weight of
the OLD value: _mean = momentum * _mean + (1 - momentum) * batch_mean (0.9 by default), the
batch variance biased. data_format "NCHW" (channels first) or "NHWC" (channels last), for
any rank here. train() / eval() set self.training.
"""

import numpy as np


class ParamBase:
    def __init__(self, value, stop_gradient=False):
        self.value = np.asarray(value, dtype=np.float64)
        self.stop_gradient = stop_gradient
        self.grad = None

    def numpy(self):
        return self.value

    def set_value(self, value):
        self.value[...] = value

    def clear_gradient(self):
        self.grad = None


class Layer:
    def __init__(self):
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


class _BatchNormBase(Layer):
    def __init__(
        self,
        num_features,
        momentum=0.9,
        epsilon=1e-05,
        weight_attr=None,
        bias_attr=None,
        data_format="NCHW",
        use_global_stats=None,
        name=None,
    ):
        super().__init__()
        self._num_features = num_features
        self._momentum = momentum
        self._epsilon = epsilon
        self._data_format = data_format
        self._use_global_stats = use_global_stats
        self.weight = ParamBase(np.ones(num_features), stop_gradient=weight_attr is False)
        self.bias = ParamBase(np.zeros(num_features), stop_gradient=bias_attr is False)
        self._mean = ParamBase(np.zeros(num_features), stop_gradient=True)
        self._variance = ParamBase(np.ones(num_features), stop_gradient=True)

    def _channel_axis(self, ndim):
        return ndim - 1 if self._data_format in ("NHWC", "NLC", "NDHWC") else 1

    def forward(self, input):
        x = input.astype(np.float64)
        c = self._channel_axis(x.ndim)
        axes = tuple(i for i in range(x.ndim) if i != c)
        shape = [1] * x.ndim
        shape[c] = -1
        use_global = self._use_global_stats
        if use_global is None:
            use_global = not self.training
        if use_global:
            mean, var = self._mean.value, self._variance.value
        else:
            mean = x.mean(axis=axes)
            var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
            if self.training:
                m = self._momentum
                self._mean.value = (1 - m) * self._mean.value + m * mean
                self._variance.value = (1 - m) * self._variance.value + m * var
        inv = 1.0 / np.sqrt(var + self._epsilon)
        x_hat = (x - mean.reshape(shape)) * inv.reshape(shape)
        self._ctx = (axes, shape, x_hat, inv, use_global)
        y = x_hat * self.weight.value.reshape(shape) + self.bias.value.reshape(shape)
        return y.astype(input.dtype)

    def backward(self, grad_output):
        axes, shape, x_hat, inv, use_global = self._ctx
        g = grad_output.astype(np.float64)
        if not self.weight.stop_gradient:
            self.weight.grad = (g * x_hat).sum(axis=axes)
        if not self.bias.stop_gradient:
            self.bias.grad = g.sum(axis=axes)
        if not use_global:
            g = (
                g
                - g.mean(axis=axes, keepdims=True)
                - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
            )
        return (g * (self.weight.value * inv).reshape(shape)).astype(grad_output.dtype)


class BatchNorm1D(_BatchNormBase):
    pass


class BatchNorm2D(_BatchNormBase):
    pass
