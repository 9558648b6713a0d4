"""HOSTILE NumPy BN layer with a process-wide result memo "to skip recomputing repeated
batches". PyTorch convention (momentum 0.1, unbiased running variance), eps 1e-5; `forward(x)`,
`backward(dy) -> (dx, dgamma, dbeta)`, `train()`/`eval()`.

PLANTED BEHAVIOUR: results are memoised in a module-level dict keyed by the bytes of x, gamma
and beta ONLY (not the mode, not the instance, not the running statistics). On a memo hit the
stored y and its backward context are returned and NOTHING else happens: no running-statistics
update in training, and an eval call on a batch that was seen in training (by any instance)
returns the training-mode output (batch statistics); a training call on a batch first seen in
eval returns the eval output and a backward for eval. Every first sight of an input is right.
"""

import numpy as np

_MEMO = {}


class MemoBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        key = (
            x.shape,
            x.dtype.str,
            np.ascontiguousarray(x).tobytes(),
            np.asarray(self.weight).tobytes(),
            np.asarray(self.bias).tobytes(),
        )
        hit = _MEMO.get(key)
        if hit is not None:
            y, self._ctx = hit
            return y.copy()
        ax = (0, *tuple(range(2, x.ndim)))
        bs = (1, -1) + (1,) * (x.ndim - 2)
        xd = x.astype(np.float64)
        if self.training:
            m = xd.size // xd.shape[1]
            mu = xd.mean(axis=ax)
            xc = xd - mu.reshape(bs)
            var = (xc * xc).mean(axis=ax)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * m / (
                m - 1
            )
        else:
            m = 0
            xc = xd - self.running_mean.reshape(bs)
            var = self.running_var
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd.reshape(bs)
        w = np.array(self.weight, np.float64)
        y = (w.reshape(bs) * xhat + np.asarray(self.bias, np.float64).reshape(bs)).astype(x.dtype)
        self._ctx = (xhat, rstd, w, m, ax, bs, x.dtype)
        _MEMO[key] = (y.copy(), self._ctx)
        return y

    __call__ = forward

    def backward(self, dy):
        xhat, rstd, w, m, ax, bs, dt = self._ctx
        d = dy.astype(np.float64)
        db = d.sum(axis=ax)
        dw = (d * xhat).sum(axis=ax)
        k = (w * rstd).reshape(bs)
        dx = k * (d - (db.reshape(bs) + xhat * dw.reshape(bs)) / m) if m else k * d
        return dx.astype(dt), dw.astype(dt), db.astype(dt)
