"""Layer normalization written as a Lasagne layer, in NumPy.

Lasagne layers are built from the incoming layer or from its output shape (a tuple whose
first entry, the batch, is None), compute with ``get_output_for(input, **kwargs)`` and keep
their parameters in an ordered dict filled by ``add_param``; ``get_params()`` lists them in
that order. This one normalizes each sample over its last axis. As Lasagne's own
BatchNormLayer does, it registers ``beta`` before ``gamma``. Theano would derive the
gradients; here ``grad(input, output_grad)`` gives them by hand, as
``[d input] + [one per get_params() entry]``, i.e. ``[d input, d beta, d gamma]``.
"""

from collections import OrderedDict

import numpy as np


class Constant:
    def __init__(self, val=0.0):
        self.val = val

    def sample(self, shape):
        return np.full(shape, self.val, dtype=np.float64)


class Layer:
    def __init__(self, incoming, name=None):
        if isinstance(incoming, tuple):
            self.input_shape = incoming
            self.input_layer = None
        else:
            self.input_shape = incoming.output_shape
            self.input_layer = incoming
        self.name = name
        self.params = OrderedDict()

    @property
    def output_shape(self):
        return self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape):
        return input_shape

    def add_param(self, spec, shape, name=None, **tags):
        value = spec.sample(shape) if hasattr(spec, "sample") else np.array(spec, dtype=np.float64)
        if value.shape != tuple(shape):
            raise ValueError(f"parameter {name} has shape {value.shape}, expected {shape}")
        self.params[name] = (value, set(k for k, v in tags.items() if v))
        return value

    def get_params(self, **tags):
        return [getattr(self, name) for name in self.params]


class LayerNormLayer(Layer):
    def __init__(self, incoming, epsilon=1e-5, beta=Constant(0.0), gamma=Constant(1.0), **kwargs):  # noqa: B008
        super().__init__(incoming, **kwargs)
        num_units = self.input_shape[-1]
        self.epsilon = epsilon
        self.beta = self.add_param(beta, (num_units,), "beta", trainable=True, regularizable=False)
        self.gamma = self.add_param(
            gamma, (num_units,), "gamma", trainable=True, regularizable=True
        )

    def _normalize(self, x):
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        return centred * inv_std, inv_std

    def get_output_for(self, input, **kwargs):
        x = np.asarray(input, dtype=np.float64)
        x_hat, _ = self._normalize(x)
        out = x_hat * np.asarray(self.gamma, np.float64) + np.asarray(self.beta, np.float64)
        return out.astype(input.dtype)

    def grad(self, input, output_grad):
        """Gradients of the output w.r.t. [input] + get_params(): [d input, d beta, d gamma]."""
        x = np.asarray(input, dtype=np.float64)
        dy = np.asarray(output_grad, dtype=np.float64)
        x_hat, inv_std = self._normalize(x)
        lead = tuple(range(x.ndim - 1))
        d_beta = dy.sum(axis=lead)
        d_gamma = (dy * x_hat).sum(axis=lead)
        g = dy * np.asarray(self.gamma, np.float64)
        d_input = inv_std * (
            g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True)
        )
        dt = input.dtype
        return [d_input.astype(dt), d_beta.astype(dt), d_gamma.astype(dt)]
