"""RMS normalization in the style of Chainer, in NumPy: a FunctionNode computing on tuples of
arrays and a Link holding the weight as a Parameter (``.array`` and ``.grad``).

``RMSNormalization.forward(inputs)`` takes ``(x, gamma)`` and returns the one-tuple ``(y,)``,
retaining its inputs; ``backward(target_input_indexes, grad_outputs)`` takes ``(gy,)`` and
returns one gradient per requested input, in the inputs' order. The Link's ``forward(x)``
applies a fresh node and keeps it; its ``backward(gy)`` runs that node's backward, stores the
weight's gradient on the Parameter and returns the node's tuple ``(gx, ggamma)``.
"""

import numpy as np


class Parameter:
    def __init__(self, array):
        self.array = array
        self.grad = None

    def cleargrad(self):
        self.grad = None


class FunctionNode:
    def retain_inputs(self, indexes):
        self._retained = tuple(self._inputs[i] for i in indexes)

    def get_retained_inputs(self):
        return self._retained

    def apply(self, inputs):
        self._inputs = tuple(inputs)
        return self.forward(self._inputs)


class RMSNormalization(FunctionNode):
    """y = gamma * x / sqrt(mean(x^2, last axis) + eps)."""

    def __init__(self, eps=1e-6):
        self.eps = eps

    def _rstd(self, x):
        return 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, gamma = inputs
        x64 = np.asarray(x, dtype=np.float64)
        y = x64 * self._rstd(x64) * np.asarray(gamma, dtype=np.float64)
        return (y.astype(x.dtype),)

    def backward(self, target_input_indexes, grad_outputs):
        x, gamma = self.get_retained_inputs()
        (gy,) = grad_outputs
        dtype = gy.dtype
        x = np.asarray(x, dtype=np.float64)
        gy = np.asarray(gy, dtype=np.float64)
        rstd = self._rstd(x)
        x_hat = x * rstd
        ggamma = (gy * x_hat).reshape(-1, x.shape[-1]).sum(axis=0)
        g = gy * np.asarray(gamma, dtype=np.float64)
        gx = rstd * (g - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
        grads = (gx.astype(dtype), ggamma.astype(dtype))
        return tuple(grads[i] for i in target_input_indexes)


class RMSNorm:
    """Link: ``RMSNorm(size, eps=1e-6)``; the weight is ``self.gamma`` (a Parameter)."""

    def __init__(self, size, eps=1e-6):
        self.eps = eps
        self.gamma = Parameter(np.ones(size, dtype=np.float64))
        self._node = None

    def forward(self, x):
        self._node = RMSNormalization(self.eps)
        (y,) = self._node.apply((x, self.gamma.array))
        return y

    __call__ = forward

    def backward(self, gy):
        gx, ggamma = self._node.backward((0, 1), (gy,))
        self.gamma.grad = ggamma
        return gx, ggamma

    def cleargrads(self):
        self.gamma.cleargrad()
