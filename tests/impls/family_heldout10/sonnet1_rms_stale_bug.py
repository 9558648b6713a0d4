"""RMS normalization as a Sonnet 1 style module, in NumPy (features on the last axis).

The module is configured in its constructor and connected by calling it: ``__call__`` hands
the input to ``_build``, which on the first connection creates the scale variable
``self._scale`` (ones, one per feature) from the input's shape and, to save a conversion per
call, keeps a float64 copy of it for the arithmetic (``self._scale_f64``). Gradients as TF
would name them: ``backward(grad_outputs)`` returns the input gradient and keeps the scale's
in ``self._grads["rms_norm/scale"]``.
"""

import numpy as np


class AbstractModule:
    def __init__(self, name):
        self._name = name
        self._is_connected = False

    def __call__(self, *args, **kwargs):
        outputs = self._build(*args, **kwargs)
        self._is_connected = True
        return outputs


class RMSNorm(AbstractModule):
    def __init__(self, eps=1e-6, name="rms_norm"):
        super().__init__(name=name)
        self._eps = eps
        self._scale = None
        self._scale_f64 = None
        self._grads = {}
        self._cache = None

    def _build(self, inputs):
        if self._scale is None:
            self._scale = np.ones(inputs.shape[-1], dtype=np.float64)
            self._scale_f64 = self._scale.astype(np.float64)
        x = np.asarray(inputs, dtype=np.float64)
        rs = 1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + self._eps)
        x_hat = x * rs
        self._cache = (x_hat, rs)
        return (x_hat * self._scale_f64).astype(inputs.dtype)

    def backward(self, grad_outputs):
        x_hat, rs = self._cache
        g = np.asarray(grad_outputs, dtype=np.float64)
        lead = tuple(range(g.ndim - 1))
        self._grads = {f"{self._name}/scale": (g * x_hat).sum(axis=lead).astype(grad_outputs.dtype)}
        gs = g * self._scale_f64
        dx = rs * (gs - x_hat * np.mean(gs * x_hat, axis=-1, keepdims=True))
        return dx.astype(grad_outputs.dtype)
