"""A Keras-like layer written from scratch in NumPy: weights are created lazily by `build`
on the first call, the maths lives in `call(inputs, training=None)`, and `__call__` builds
then calls.  As in Keras, `training=None` means inference, the channel axis defaults to -1,
momentum is the share of the old moving average (0.99) and epsilon defaults to 1e-3.
The hand-written `backward` stores `gamma_grad` and `beta_grad`.
"""
import numpy as np


class Layer:
    def __init__(self, name=None):
        self.name = name or type(self).__name__.lower()
        self.built = False

    def build(self, input_shape):
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if not self.built:
            self.build(inputs.shape)
            self.built = True
        return self.call(inputs, *args, **kwargs)


class BatchNormalization(Layer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, name=None):
        super().__init__(name)
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        dim = input_shape[self.axis]
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.moving_mean = np.zeros(dim)
        self.moving_variance = np.ones(dim)
        super().build(input_shape)

    def _broadcast(self, v, ndim):
        shape = [1] * ndim
        shape[self.axis] = -1
        return v.reshape(shape)

    def call(self, inputs, training=None):
        nd = inputs.ndim
        red = tuple(i for i in range(nd) if i != self.axis % nd)
        bc = lambda v: self._broadcast(v, nd)
        if training:
            mean = inputs.mean(axis=red)
            variance = inputs.var(axis=red)
            inv = 1.0 / np.sqrt(variance + self.epsilon)
            normed = (inputs - bc(mean)) * bc(inv)
            self._saved = (normed, inv, red)
            self.moving_mean = self.moving_mean * self.momentum + mean * (1 - self.momentum)
            self.moving_variance = (self.moving_variance * self.momentum
                                    + variance * (1 - self.momentum))
        else:
            inv = 1.0 / np.sqrt(self.moving_variance + self.epsilon)
            normed = (inputs - bc(self.moving_mean)) * bc(inv)
        out = normed * bc(self.gamma) + bc(self.beta)
        return out.astype(inputs.dtype, copy=False)

    def backward(self, grad):
        normed, inv, red = self._saved
        nd = grad.ndim
        bc = lambda v: self._broadcast(v, nd)
        m = grad.size // self.gamma.size
        self.beta_grad = grad.sum(axis=red)
        self.gamma_grad = (grad * normed).sum(axis=red)
        dx = bc(self.gamma * inv) * (grad - bc(self.beta_grad / m) - normed * bc(self.gamma_grad / m))
        return dx.astype(grad.dtype, copy=False)
