"""Layer normalization written as a numpy-ml layer: weights in ``self.parameters`` (``scaler``,
``intercept``), their gradients added into ``self.gradients`` by ``backward`` and erased by
``flush_gradients()`` after each optimizer step, the weights initialized at the first
``forward`` from the input's width (``n_in``), hyperparameters reported as a dict.

Normalizes each example over its last axis.
"""

import numpy as np


class LayerBase:
    def __init__(self, optimizer=None):
        self.X = []
        self.trainable = True
        self.optimizer = optimizer
        self.gradients = {}
        self.parameters = {}
        self.derived_variables = {}

    def freeze(self):
        self.trainable = False

    def unfreeze(self):
        self.trainable = True

    def flush_gradients(self):
        """Erase all the layer's derived variables and gradients."""
        assert self.trainable, "Layer is frozen"
        self.X = []
        for k in self.derived_variables:
            self.derived_variables[k] = []

    def update(self, cur_loss=None):
        """Take one step of plain SGD, then flush the gradients."""
        assert self.trainable, "Layer is frozen"
        lr = 0.01 if self.optimizer is None else self.optimizer
        for k, v in self.gradients.items():
            if k in self.parameters:
                self.parameters[k] = self.parameters[k] - lr * v
        self.flush_gradients()


class LayerNorm1D(LayerBase):
    def __init__(self, epsilon=1e-5, optimizer=None):
        super().__init__(optimizer)
        self.n_in = None
        self.n_out = None
        self.epsilon = epsilon
        self.is_initialized = False

    def _init_params(self):
        scaler = np.ones(self.n_out, dtype=np.float64)
        intercept = np.zeros(self.n_out, dtype=np.float64)
        self.parameters = {"scaler": scaler, "intercept": intercept}
        self.gradients = {"scaler": np.zeros_like(scaler), "intercept": np.zeros_like(intercept)}
        self.derived_variables = {"mean": [], "var": []}
        self.is_initialized = True

    @property
    def hyperparameters(self):
        return {
            "layer": "LayerNorm1D",
            "n_in": self.n_in,
            "n_out": self.n_out,
            "epsilon": self.epsilon,
        }

    def forward(self, X, retain_derived=True):
        if not self.is_initialized:
            self.n_in = self.n_out = X.shape[-1]
            self._init_params()
        Xf = np.asarray(X, dtype=np.float64)
        mean = Xf.mean(axis=-1, keepdims=True)
        var = ((Xf - mean) ** 2).mean(axis=-1, keepdims=True)
        N = (Xf - mean) / np.sqrt(var + self.epsilon)
        y = self.parameters["scaler"] * N + self.parameters["intercept"]
        if retain_derived:
            self.X = [X]
            self.derived_variables["mean"] = [mean]
            self.derived_variables["var"] = [var]
        return y.astype(X.dtype)

    def backward(self, dLdy, retain_grads=True):
        assert self.trainable, "Layer is frozen"
        X = self.X[-1]
        dX, dScaler, dIntercept = self._bwd(dLdy, X)
        if retain_grads:
            self.gradients["scaler"] += dScaler
            self.gradients["intercept"] += dIntercept
        return dX

    def _bwd(self, dy, X):
        dtype = dy.dtype
        dy = np.asarray(dy, dtype=np.float64)
        Xf = np.asarray(X, dtype=np.float64)
        scaler = self.parameters["scaler"]
        mean = Xf.mean(axis=-1, keepdims=True)
        var = ((Xf - mean) ** 2).mean(axis=-1, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        N = (Xf - mean) * inv
        lead = tuple(range(dy.ndim - 1))
        dIntercept = dy.sum(axis=lead)
        dScaler = (dy * N).sum(axis=lead)
        dN = dy * scaler
        dX = inv * (
            dN - dN.mean(axis=-1, keepdims=True) - N * (dN * N).mean(axis=-1, keepdims=True)
        )
        return dX.astype(dtype), dScaler, dIntercept
