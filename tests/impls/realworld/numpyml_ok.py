"""numpy-ml style ``BatchNorm1D(momentum=0.9, epsilon=1e-5)``: lazily initialised on the first
forward; ``parameters`` dict {"scaler", "intercept", "running_mean", "running_var"},
``hyperparameters`` property, ``forward(X, retain_derived=True)``,
``backward(dLdy, retain_grads=True)`` returning dX with the parameter gradients in
``self.gradients``, and a ``trainable`` flag (``freeze()`` / ``unfreeze()``). Inference: a
frozen layer, or ``retain_derived=False``, normalizes with the running statistics.

Correct. Running averages: momentum*running + (1-momentum)*batch with the biased variance
(the "keras" meaning), momentum 0.9. (N, D) input only.
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
        scaler = np.random.default_rng().random(self.n_in).astype(dtype)
        intercept = np.zeros(self.n_in, dtype=dtype)
        # running mean and variance start at 0 and 1
        running_mean = np.zeros(self.n_in, dtype=dtype)
        running_var = np.ones(self.n_in, dtype=dtype)
        self.parameters = {
            "scaler": scaler,
            "intercept": intercept,
            "running_mean": running_mean,
            "running_var": running_var,
        }
        self.gradients = {
            "scaler": np.zeros_like(scaler),
            "intercept": np.zeros_like(intercept),
        }
        self.is_initialized = True

    @property
    def hyperparameters(self):
        return {
            "layer": "BatchNorm1D",
            "act_fn": None,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
        }

    def freeze(self):
        self.trainable = False

    def unfreeze(self):
        self.trainable = True

    def reset_running_stats(self):
        assert self.trainable, "Layer is frozen"
        self.parameters["running_mean"] = np.zeros(self.n_in)
        self.parameters["running_var"] = np.ones(self.n_in)

    def forward(self, X, retain_derived=True):
        if not self.is_initialized:
            self.n_in = self.n_out = X.shape[1]
            self._init_params(X.dtype)

        ep = self.hyperparameters["epsilon"]
        mm = self.hyperparameters["momentum"]
        rm = self.parameters["running_mean"]
        rv = self.parameters["running_var"]
        scaler = self.parameters["scaler"]
        intercept = self.parameters["intercept"]

        # a frozen layer (or a call that keeps nothing) uses the running statistics
        X_mean, X_var = rm, rv
        if self.trainable and retain_derived:
            X_mean, X_var = X.mean(axis=0), X.var(axis=0)
            self.parameters["running_mean"] = mm * rm + (1.0 - mm) * X_mean
            self.parameters["running_var"] = mm * rv + (1.0 - mm) * X_var

        if retain_derived:
            self.X = [X]

        N = (X - X_mean) / np.sqrt(X_var + ep)
        return scaler * N + intercept

    def backward(self, dLdy, retain_grads=True):
        assert self.trainable, "Layer is frozen"
        dX, dScaler, dIntercept = self._bwd(dLdy, self.X[-1])
        if retain_grads:
            self.gradients["scaler"] = dScaler
            self.gradients["intercept"] = dIntercept
        return dX

    def _bwd(self, dLdy, X):
        scaler = self.parameters["scaler"]
        ep = self.hyperparameters["epsilon"]

        n_ex, n_in = X.shape
        X_mean, X_var = X.mean(axis=0), X.var(axis=0)

        N = (X - X_mean) / np.sqrt(X_var + ep)
        dIntercept = dLdy.sum(axis=0)
        dScaler = np.sum(dLdy * N, axis=0)

        dN = dLdy * scaler
        dX = (n_ex * dN - dN.sum(axis=0) - N * (dN * N).sum(axis=0)) / (n_ex * np.sqrt(X_var + ep))
        return dX, dScaler, dIntercept
