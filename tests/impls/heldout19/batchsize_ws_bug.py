"""NumPy BatchNorm layer (PyTorch convention: momentum 0.1 on the batch, unbiased running
variance, eps 1e-5) that keeps a per-input-signature workspace (reduction axes, broadcast shape,
count) so repeated calls do not recompute them. `forward(x)` / `__call__`, `backward(dy) ->
(dx, dgamma, dbeta)`, `train()`/`eval()`.

PLANTED MISTAKE: the workspace is keyed by the shape WITHOUT the batch axis (x.shape[1:],
"the batch size is free"), but it also holds the count m of values per channel, which the
backward uses. On one instance, once the batch size changes, the backward divides by the count
of the first batch of that per-sample shape: dx is wrong. Forward, running statistics and eval
are right; a fresh instance per batch shape is right.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.training = True
        self._ws = {}
        self._ctx = None

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def _workspace(self, x):
        key = (x.shape[1:], x.dtype.str)
        ws = self._ws.get(key)
        if ws is None:
            axes = (0, *range(2, x.ndim))
            bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
            ws = {"axes": axes, "bshape": bshape, "m": x.size // x.shape[1]}
            self._ws[key] = ws
        return ws

    def forward(self, x):
        x = np.asarray(x)
        ws = self._workspace(x)
        axes, bs, _m = ws["axes"], ws["bshape"], ws["m"]
        xd = x.astype(np.float64)
        if self.training:
            m_now = x.size // x.shape[1]
            mu = xd.mean(axis=axes)
            xc = xd - mu.reshape(bs)
            var = (xc * xc).mean(axis=axes)
            k = self.momentum
            self.running_mean = (1 - k) * self.running_mean + k * mu
            self.running_var = (1 - k) * self.running_var + k * var * (m_now / (m_now - 1))
            self.num_batches_tracked += 1
        else:
            xc = xd - np.asarray(self.running_mean, np.float64).reshape(bs)
            var = np.asarray(self.running_var, np.float64)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd.reshape(bs)
        g = np.asarray(self.gamma, np.float64)
        self._ctx = (xhat, rstd, g, ws, self.training, x.dtype)
        return (g.reshape(bs) * xhat + np.asarray(self.beta, np.float64).reshape(bs)).astype(
            x.dtype
        )

    __call__ = forward

    def backward(self, dy):
        xhat, rstd, g, ws, training, dt = self._ctx
        axes, bs, m = ws["axes"], ws["bshape"], ws["m"]
        d = np.asarray(dy, np.float64)
        dbeta = d.sum(axis=axes)
        dgamma = (d * xhat).sum(axis=axes)
        if training:
            dx = (g * rstd / m).reshape(bs) * (
                m * d - dbeta.reshape(bs) - xhat * dgamma.reshape(bs)
            )
        else:
            dx = (g * rstd).reshape(bs) * d
        return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)

    def state_dict(self):
        return {
            "gamma": self.gamma.copy(),
            "beta": self.beta.copy(),
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": self.num_batches_tracked,
        }

    def load_state_dict(self, d):
        self.gamma = np.array(d["gamma"], np.float64)
        self.beta = np.array(d["beta"], np.float64)
        self.running_mean = np.array(d["running_mean"], np.float64)
        self.running_var = np.array(d["running_var"], np.float64)
        self.num_batches_tracked = int(d["num_batches_tracked"])
