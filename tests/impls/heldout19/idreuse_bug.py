"""NumPy BN layer whose running statistics live in a module-level registry so that a
"checkpoint all BN statistics" helper can walk them. PyTorch convention (momentum 0.1,
unbiased running variance), eps 1e-5. `forward(x, train=True)`, `backward(dy) -> (dx,
dgamma, dbeta)`; `running_mean`/`running_var` are properties over the registry entry (with
setters).

PLANTED MISTAKE: the registry is keyed by `id(self)` and filled with `setdefault`, and entries
are never removed. CPython reuses the id of a collected object, so a NEW layer created after an
old one was garbage-collected can land on the old id and silently start from the dead layer's
running statistics and step count instead of 0 and 1. Layers that are all alive at once are
independent and right; a layer alone in a process is right.
"""

import numpy as np

_STATS = {}


def all_running_stats():
    return dict(_STATS)


class LayerBN:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.C = num_features
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        _STATS.setdefault(
            id(self), {"mean": np.zeros(num_features), "var": np.ones(num_features), "steps": 0}
        )

    @property
    def _entry(self):
        return _STATS.setdefault(
            id(self), {"mean": np.zeros(self.C), "var": np.ones(self.C), "steps": 0}
        )

    @property
    def running_mean(self):
        return self._entry["mean"]

    @running_mean.setter
    def running_mean(self, value):
        self._entry["mean"] = np.array(value, dtype=np.float64)

    @property
    def running_var(self):
        return self._entry["var"]

    @running_var.setter
    def running_var(self, value):
        self._entry["var"] = np.array(value, dtype=np.float64)

    def forward(self, x, train=True):
        ax = (0, *tuple(range(2, x.ndim)))
        sh = (1, self.C) + (1,) * (x.ndim - 2)
        xd = x.astype(np.float64)
        e = self._entry
        if train:
            m = xd.size // self.C
            mu = xd.mean(axis=ax)
            d = xd - mu.reshape(sh)
            var = np.mean(d * d, axis=ax)
            e["mean"] = (1 - self.momentum) * e["mean"] + self.momentum * mu
            e["var"] = (1 - self.momentum) * e["var"] + self.momentum * var * m / (m - 1)
            e["steps"] += 1
        else:
            m = 0
            d = xd - e["mean"].reshape(sh)
            var = e["var"]
        r = 1.0 / np.sqrt(var + self.eps)
        xh = d * r.reshape(sh)
        self._c = (xh, r, m, ax, sh)
        return (self.gamma.reshape(sh) * xh + self.beta.reshape(sh)).astype(x.dtype)

    def backward(self, dy):
        xh, r, m, ax, sh = self._c
        g = dy.astype(np.float64)
        db = g.sum(axis=ax)
        dg = (g * xh).sum(axis=ax)
        if m:
            dx = (self.gamma * r).reshape(sh) * (g - (db.reshape(sh) + xh * dg.reshape(sh)) / m)
        else:
            dx = (self.gamma * r).reshape(sh) * g
        return dx.astype(dy.dtype), dg.astype(dy.dtype), db.astype(dy.dtype)
