"""Instance normalization whose parameters are Theano-style shared variables, in NumPy.

Theano keeps a layer's parameters in shared variables: the array sits in the variable's
container (``container.storage[0]``) and is read with ``get_value()`` (a copy unless
``borrow=True``) and replaced with ``set_value(value)``. This layer,
``InstanceNormLayer(num_channels, epsilon=1e-4)``, holds ``self.scale`` (ones) and
``self.shift`` (zeros) as such variables, lists them in ``self.params``, normalizes each
sample's channel (axis 1) over its spatial axes, and gives its gradients as Theano's
``T.grad(cost, [input] + params)`` would: ``backward(output_grad)`` returns
``[d input, d scale, d shift]``.
"""

import numpy as np


class Container:
    def __init__(self, value):
        self.storage = [value]


class SharedVariable:
    def __init__(self, value, name=None, borrow=False):
        value = np.asarray(value, dtype=np.float64)
        self.container = Container(value if borrow else value.copy())
        self.name = name

    def get_value(self, borrow=False):
        value = self.container.storage[0]
        return value if borrow else value.copy()

    def set_value(self, new_value, borrow=False):
        new_value = np.asarray(new_value, dtype=np.float64)
        self.container.storage[0] = new_value if borrow else new_value.copy()

    def __repr__(self):
        return f"SharedVariable({self.name})"


def shared(value, name=None, borrow=False):
    return SharedVariable(value, name=name, borrow=borrow)


class InstanceNormLayer:
    def __init__(self, num_channels, epsilon=1e-4):
        self.num_channels = num_channels
        self.epsilon = epsilon
        self.scale = shared(np.ones(num_channels), name="in.scale")
        self.shift = shared(np.zeros(num_channels), name="in.shift")
        self.params = [self.scale, self.shift]
        self._last = None

    def _bc(self, var, ndim):
        return var.get_value(borrow=True).reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, input):
        if input.ndim < 3:
            raise ValueError("InstanceNormLayer needs (N, C, spatial...) input")
        x = np.asarray(input, dtype=np.float64)
        axes = tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        normalized = (x - mean) * inv_std
        self._last = (normalized, inv_std, axes)
        out = normalized * self._bc(self.scale, x.ndim) + self._bc(self.shift, x.ndim)
        return out.astype(input.dtype)

    def backward(self, output_grad):
        normalized, inv_std, axes = self._last
        g = np.asarray(output_grad, dtype=np.float64)
        red = (0, *axes)
        d_scale = (g * normalized).sum(axis=red)
        d_shift = g.sum(axis=red)
        gs = g * self._bc(self.scale, g.ndim)
        d_input = inv_std * (
            gs
            - gs.mean(axis=axes, keepdims=True)
            - normalized * (gs * normalized).mean(axis=axes, keepdims=True)
        )
        dt = output_grad.dtype
        return [d_input.astype(dt), d_scale.astype(dt), d_shift.astype(dt)]
