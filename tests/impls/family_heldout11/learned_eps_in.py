"""Instance normalization with a learnable per-channel epsilon, in NumPy.

Some style-transfer and low-light models learn the stabilizer of each channel instead of fixing
it: ``eps_c = exp(log_eps[c])``, initialized to ``eps_init`` for every channel, trained like the
affine pair. ``self.params = {"weight", "bias", "log_eps"}`` (C values each) and
``self.grads`` under the same keys, written by ``backward``. Input (N, C, L) or (N, C, H, W):
statistics per sample and channel over the spatial positions; 2-D input is refused.

``InstanceNorm(num_features, eps_init=1e-5)``; ``forward(x)``; ``backward(dy)`` -> dx.
"""

import numpy as np


class InstanceNorm:
    def __init__(self, num_features, eps_init=1e-5):
        c = num_features
        self.num_features = c
        self.params = {
            "weight": np.ones(c),
            "bias": np.zeros(c),
            "log_eps": np.full(c, np.log(eps_init)),
        }
        self.grads = {k: np.zeros(c) for k in self.params}
        self._ctx = None

    def _b(self, v, ndim):
        return np.asarray(v, np.float64).reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x):
        if x.ndim < 3:
            raise ValueError(f"InstanceNorm expects (N, C, *spatial) input, got {x.shape}")
        a = np.asarray(x, dtype=np.float64)
        axes = tuple(range(2, a.ndim))
        mu = a.mean(axis=axes, keepdims=True)
        d = a - mu
        var = (d**2).mean(axis=axes, keepdims=True)
        eps = np.exp(self._b(self.params["log_eps"], a.ndim))
        r = 1.0 / np.sqrt(var + eps)
        xh = d * r
        self._ctx = (xh, r, eps)
        y = self._b(self.params["weight"], a.ndim) * xh + self._b(self.params["bias"], a.ndim)
        return y.astype(x.dtype)

    def backward(self, dy):
        xh, r, eps = self._ctx
        g = np.asarray(dy, dtype=np.float64)
        axes = tuple(range(2, g.ndim))
        red = (0, *axes)
        w = self._b(self.params["weight"], g.ndim)
        gw = g * w
        # d y / d eps_c = -w * x_hat * r^2 / 2, and d eps_c / d log_eps_c = eps_c
        dlog_eps = (-0.5 * gw * xh * r * r * eps).sum(axis=red)
        self.grads["weight"] = (g * xh).sum(axis=red).astype(dy.dtype)
        self.grads["bias"] = g.sum(axis=red).astype(dy.dtype)
        self.grads["log_eps"] = dlog_eps.astype(dy.dtype)
        dx = r * (
            gw - gw.mean(axis=axes, keepdims=True) - xh * (gw * xh).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dy.dtype)
