"""Lasagne's BatchNormLayer, re-done in NumPy (Theano computed the gradient; here `grad`).

get_output_for(input, deterministic=False, batch_norm_use_averages=None,
batch_norm_update_averages=None). alpha is the weight of the new batch in the running
averages. The layer keeps `mean` and `inv_std` (1 / sqrt(var + epsilon)), not the variance,
and the running average is taken over inv_std itself, as Lasagne does.
"""

import numpy as np


class Layer:
    def __init__(self, incoming, name=None):
        self.input_shape = incoming if isinstance(incoming, tuple) else incoming.output_shape
        self.name = name
        self.params = {}

    def add_param(self, value, shape, name, trainable=True, regularizable=True):
        arr = np.full(shape, value, dtype=np.float64)
        self.params[name] = {"trainable": trainable, "regularizable": regularizable}
        return arr

    def get_params(self, trainable=None):
        out = []
        for name, tags in self.params.items():
            if trainable is None or tags["trainable"] == trainable:
                out.append(getattr(self, name))
        return out


class BatchNormLayer(Layer):
    def __init__(
        self,
        incoming,
        axes="auto",
        epsilon=1e-4,
        alpha=0.1,
        beta=0.0,
        gamma=1.0,
        mean=0.0,
        inv_std=1.0,
        **kwargs,
    ):
        super().__init__(incoming, **kwargs)
        if axes == "auto":
            axes = (0, *tuple(range(2, len(self.input_shape))))
        self.axes = axes
        self.epsilon = epsilon
        self.alpha = alpha
        shape = [size for axis, size in enumerate(self.input_shape) if axis not in self.axes]
        self.beta = self.add_param(beta, shape, "beta", trainable=True, regularizable=False)
        self.gamma = self.add_param(gamma, shape, "gamma", trainable=True, regularizable=True)
        self.mean = self.add_param(mean, shape, "mean", trainable=False, regularizable=False)
        self.inv_std = self.add_param(
            inv_std, shape, "inv_std", trainable=False, regularizable=False
        )

    def _axes_for(self, input):
        # the layer was declared for one rank; accept inputs of any rank over the same channels
        return (0, *tuple(range(2, input.ndim)))

    def _pattern(self, input):
        return (1, -1) + (1,) * (input.ndim - 2)

    def get_output_for(
        self,
        input,
        deterministic=False,
        batch_norm_use_averages=None,
        batch_norm_update_averages=None,
        **kwargs,
    ):
        axes = self._axes_for(input)
        pattern = self._pattern(input)
        x = input.astype(np.float64)
        input_mean = x.mean(axes)
        input_inv_std = 1.0 / np.sqrt(x.var(axes) + self.epsilon)

        use_averages = batch_norm_use_averages
        if use_averages is None:
            use_averages = deterministic
        update_averages = batch_norm_update_averages
        if update_averages is None:
            update_averages = not deterministic

        if update_averages:
            self.mean = (1 - self.alpha) * self.mean + self.alpha * input_mean
            self.inv_std = (1 - self.alpha) * self.inv_std + self.alpha * input_inv_std

        if use_averages:
            mean, inv_std = self.mean, self.inv_std
        else:
            mean, inv_std = input_mean, input_inv_std

        self._ctx = (x, mean, inv_std, use_averages, axes, pattern)
        normalized = (x - mean.reshape(pattern)) * (self.gamma * inv_std).reshape(
            pattern
        ) + self.beta.reshape(pattern)
        return normalized.astype(input.dtype)

    def grad(self, input, output_grad):
        """[d input, d beta, d gamma] for the last get_output_for (T.grad's order)."""
        x, mean, inv_std, use_averages, axes, pattern = self._ctx
        g = output_grad.astype(np.float64)
        x_hat = (x - mean.reshape(pattern)) * inv_std.reshape(pattern)
        d_beta = g.sum(axes)
        d_gamma = (g * x_hat).sum(axes)
        scale = (self.gamma * inv_std).reshape(pattern)
        if use_averages:
            d_input = scale * g
        else:
            d_input = scale * (
                g - g.mean(axes, keepdims=True) - x_hat * (g * x_hat).mean(axes, keepdims=True)
            )
        return [d_input.astype(input.dtype), d_beta, d_gamma]
