"""Batch norm over a batch given as a sequence of per-sample arrays, each (C,) or (C, H, W)."""
import numpy as np


class ListBatchNorm:
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        self.C = channels
        self.eps = eps
        self.momentum = momentum
        self.scale = np.ones(channels)
        self.shift = np.zeros(channels)
        self.mean_ema = np.zeros(channels)
        self.var_ema = np.ones(channels)
        self.grad = {"scale": np.zeros(channels), "shift": np.zeros(channels)}
        self._tape = None

    def _flat(self, s):
        s = np.asarray(s)
        return s.reshape(self.C, -1)

    def forward(self, samples, train=True):
        samples = list(samples)
        flats = [self._flat(s) for s in samples]
        shape = np.shape(samples[0])
        dt = flats[0].dtype
        count = len(flats) * flats[0].shape[1]
        if train:
            total = np.zeros(self.C, dtype=dt)
            for f in flats:
                total += f.sum(axis=1)
            mean = total / count
            sq = np.zeros(self.C, dtype=dt)
            for f in flats:
                d = f - mean[:, None]
                sq += (d * d).sum(axis=1)
            var = sq / count
            self.mean_ema = (1 - self.momentum) * self.mean_ema + self.momentum * mean
            self.var_ema = (1 - self.momentum) * self.var_ema + self.momentum * sq / max(count - 1, 1)
        else:
            mean, var = self.mean_ema.astype(dt), self.var_ema.astype(dt)
        inv = 1.0 / np.sqrt(var + dt.type(self.eps))
        xhats = [(f - mean[:, None]) * inv[:, None] for f in flats]
        outs = [(self.scale.astype(dt)[:, None] * h + self.shift.astype(dt)[:, None]).reshape(shape) for h in xhats]
        if train:
            self._tape = (xhats, inv, count, shape)
        return np.stack(outs)

    def backward(self, douts):
        xhats, inv, count, shape = self._tape
        dflats = [self._flat(d) for d in douts]
        dshift = sum(d.sum(axis=1) for d in dflats)
        dscale = sum((d * h).sum(axis=1) for d, h in zip(dflats, xhats))
        self.grad = {"scale": dscale, "shift": dshift}
        k = (self.scale.astype(dflats[0].dtype) * inv)[:, None]
        dxs = [(k * (d - dshift[:, None] / count - h * dscale[:, None] / count)).reshape(shape)
               for d, h in zip(dflats, xhats)]
        return np.stack(dxs)
