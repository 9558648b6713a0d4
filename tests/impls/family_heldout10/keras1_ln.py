"""Layer normalization as a Keras 1 layer, in NumPy.

A Keras 1 layer knows nothing of its input when it is constructed: ``__call__`` calls
``build(input_shape)`` the first time the layer meets a tensor (``self.built`` is then True),
and ``build`` makes the weights with ``add_weight``, which also appends them to
``self.trainable_weights``. This layer's weights are ``self._gamma`` and ``self._beta``, one
value per feature of the last axis. Keras would differentiate ``call``; this one has a
hand-written ``backward(grad)`` that returns the input gradient and leaves the weights'
gradients in ``self.gradients``, a list in the order of ``self.trainable_weights``.
"""

import numpy as np

_INITIALIZERS = {"ones": np.ones, "zeros": np.zeros}


class Layer:
    def __init__(self, name=None, trainable=True):
        self.name = name or type(self).__name__.lower()
        self.trainable = trainable
        self.built = False
        self.trainable_weights = []

    def add_weight(self, shape, initializer, name):
        weight = _INITIALIZERS[initializer](shape, dtype=np.float64)
        self.trainable_weights.append(weight)
        return weight

    def build(self, input_shape):
        self.built = True

    def __call__(self, inputs, **kwargs):
        if not self.built:
            self.build(np.shape(inputs))
        return self.call(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        return input_shape


class LayerNormalization(Layer):
    """``LayerNormalization(epsilon=1e-3)``: normalizes each sample over its last axis."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self._gamma = None
        self._beta = None
        self.gradients = []
        self._saved = None

    def build(self, input_shape):
        dim = (input_shape[-1],)
        self._gamma = self.add_weight(dim, "ones", name=f"{self.name}_gamma")
        self._beta = self.add_weight(dim, "zeros", name=f"{self.name}_beta")
        super().build(input_shape)

    def call(self, inputs):
        x = np.asarray(inputs, dtype=np.float64)
        mu = np.mean(x, axis=-1, keepdims=True)
        xmu = x - mu
        var = np.mean(xmu**2, axis=-1, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        normed = xmu * inv
        self._saved = (normed, inv)
        out = normed * np.asarray(self._gamma, np.float64) + np.asarray(self._beta, np.float64)
        return out.astype(np.asarray(inputs).dtype)

    def backward(self, grad):
        normed, inv = self._saved
        dt = np.asarray(grad).dtype
        g = np.asarray(grad, dtype=np.float64)
        batch_axes = tuple(range(g.ndim - 1))
        d_gamma = np.sum(g * normed, axis=batch_axes)
        d_beta = np.sum(g, axis=batch_axes)
        self.gradients = [d_gamma.astype(dt), d_beta.astype(dt)]
        gn = g * np.asarray(self._gamma, np.float64)
        dx = inv * (
            gn
            - np.mean(gn, axis=-1, keepdims=True)
            - normed * np.mean(gn * normed, axis=-1, keepdims=True)
        )
        return dx.astype(dt)
