"""NumPy BN whose running statistics start as the Python floats 0.0 and 1.0 (broadcast against
the per-channel batch statistics) and only become arrays of C values after the first training
batch. Keras-type update (momentum 0.9 on the old value), biased running variance.
`training` attribute; forward(x) / backward(dout); gradients left in dgamma / dbeta. Correct.
"""

import numpy as np


class ScalarInitBN:
    def __init__(self, num_features, momentum=0.9, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.training = True
        self.running_mean = 0.0
        self.running_var = 1.0
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = None
        self.dbeta = None
        self._saved = None

    def _axes(self, x):
        return (0, *tuple(range(2, x.ndim)))

    def _bshape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x):
        axes = self._axes(x)
        shp = self._bshape(x)
        xd = x.astype(np.float64)
        if self.training:
            mu = xd.mean(axis=axes)
            centred = xd - mu.reshape(shp)
            var = (centred * centred).mean(axis=axes)
            m = self.momentum
            self.running_mean = m * self.running_mean + (1.0 - m) * mu
            self.running_var = m * self.running_var + (1.0 - m) * var
            inv = 1.0 / np.sqrt(var + self.eps)
            xhat = centred * inv.reshape(shp)
            self._saved = (xhat, inv, axes, shp)
        else:
            rm = np.broadcast_to(np.asarray(self.running_mean, np.float64), self.gamma.shape)
            rv = np.broadcast_to(np.asarray(self.running_var, np.float64), self.gamma.shape)
            xhat = (xd - rm.reshape(shp)) / np.sqrt(rv.reshape(shp) + self.eps)
        out = xhat * self.gamma.reshape(shp) + self.beta.reshape(shp)
        return out.astype(x.dtype, copy=False)

    def backward(self, dout):
        xhat, inv, axes, shp = self._saved
        g = dout.astype(np.float64)
        self.dbeta = g.sum(axis=axes)
        self.dgamma = (g * xhat).sum(axis=axes)
        gm = g.mean(axis=axes).reshape(shp)
        gxm = (g * xhat).mean(axis=axes).reshape(shp)
        dx = (self.gamma * inv).reshape(shp) * (g - gm - xhat * gxm)
        return dx.astype(dout.dtype, copy=False)
