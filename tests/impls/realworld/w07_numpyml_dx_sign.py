"""numpy-ml style ``BatchNorm1D(momentum=0.9, epsilon=1e-5)`` (lazy ``parameters`` dict
"scaler" / "intercept" / "running_mean" / "running_var", ``forward(X, retain_derived=True)``,
``backward(dLdy, retain_grads=True)`` with a ``gradients`` dict, ``trainable`` flag), whose
compact dX formula has its terms written in the wrong order: ``(dN.sum(0) + N*(dN*N).sum(0)
- n_ex*dN)``.

WRONG (one mistake): the sign of dx. Everything else right.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


class BatchNorm1D:
    def __init__(self, momentum=0.9, epsilon=1e-5, optimizer=None):
        self.n_in = None
        self.n_out = None
        self.epsilon = epsilon
        self.momentum = momentum
        self.optimizer = optimizer
        self.trainable = True
        self.parameters = {
            "scaler": None,
            "intercept": None,
            "running_var": None,
            "running_mean": None,
        }
        self.gradients = {}
        self.X = []
        self.is_initialized = False

    def _init_params(self, dtype):
        self.parameters = {
            "scaler": np.random.default_rng().random(self.n_in).astype(dtype),
            "intercept": np.zeros(self.n_in, dtype=dtype),
            "running_mean": np.zeros(self.n_in, dtype=dtype),
            "running_var": np.ones(self.n_in, dtype=dtype),
        }
        self.gradients = {
            "scaler": np.zeros(self.n_in, dtype=dtype),
            "intercept": np.zeros(self.n_in, dtype=dtype),
        }
        self.is_initialized = True

    @property
    def hyperparameters(self):
        return {
            "layer": "BatchNorm1D",
            "n_in": self.n_in,
            "n_out": self.n_out,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
        }

    def freeze(self):
        self.trainable = False

    def unfreeze(self):
        self.trainable = True

    def forward(self, X, retain_derived=True):
        if not self.is_initialized:
            self.n_in = self.n_out = X.shape[1]
            self._init_params(X.dtype)
        ep, mm = self.epsilon, self.momentum
        rm = self.parameters["running_mean"]
        rv = self.parameters["running_var"]
        X_mean, X_var = rm, rv
        if self.trainable and retain_derived:
            X_mean, X_var = X.mean(axis=0), X.var(axis=0)
            self.parameters["running_mean"] = mm * rm + (1.0 - mm) * X_mean
            self.parameters["running_var"] = mm * rv + (1.0 - mm) * X_var
        if retain_derived:
            self.X = [X]
        N = (X - X_mean) / np.sqrt(X_var + ep)
        return self.parameters["scaler"] * N + self.parameters["intercept"]

    def backward(self, dLdy, retain_grads=True):
        assert self.trainable, "Layer is frozen"
        X = self.X[-1]
        scaler = self.parameters["scaler"]
        ep = self.epsilon
        n_ex, n_in = X.shape
        X_mean, X_var = X.mean(axis=0), X.var(axis=0)
        N = (X - X_mean) / np.sqrt(X_var + ep)
        dIntercept = dLdy.sum(axis=0)
        dScaler = np.sum(dLdy * N, axis=0)
        dN = dLdy * scaler
        dX = (dN.sum(axis=0) + N * (dN * N).sum(axis=0) - n_ex * dN) / (n_ex * np.sqrt(X_var + ep))
        if retain_grads:
            self.gradients["scaler"] = dScaler
            self.gradients["intercept"] = dIntercept
        return dX
