"""More layer styles seen in from-scratch code: an inverted ``eval=`` flag with scalar running
statistics (0 and 1, sized by broadcasting) named test_mean/test_var; a train-only forward with a
separate ``predict``; the mode as a ``mode`` string attribute with parameters in a dict."""

import numpy as np


def _fwd(x, g, b, eps):
    mu = x.mean(0)
    var = x.var(0)
    inv = 1 / np.sqrt(var + eps)
    xh = (x - mu) * inv
    return g * xh + b, (xh, inv, g)


def _bwd(dy, cache):
    xh, inv, g = cache
    m = len(dy)
    db = dy.sum(0)
    dg = (dy * xh).sum(0)
    return g * inv / m * (m * dy - db - xh * dg), dg, db


class Inverted:
    """__call__(x, eval=False); scalar running stats 0 and 1; test_mean/test_var names"""

    def __init__(self, n):
        self.gamma = np.ones(n)
        self.beta = np.zeros(n)
        self.test_mean = 0.0
        self.test_var = 1.0
        self.momentum = 0.9
        self.eps = 1e-5

    def __call__(self, x, eval=False):
        if eval:
            return self.gamma * (x - self.test_mean) / np.sqrt(self.test_var + self.eps) + self.beta
        y, self.cache = _fwd(x, self.gamma, self.beta, self.eps)
        self.test_mean = self.momentum * self.test_mean + (1 - self.momentum) * x.mean(0)
        self.test_var = self.momentum * self.test_var + (1 - self.momentum) * x.var(0)
        return y

    def backward(self, dout):
        dx, self.dgamma, self.dbeta = _bwd(dout, self.cache)
        return dx


class Predictor:
    """forward(x) trains, predict(x) is eval; mode string attribute absent"""

    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.gamma = np.ones(dim)
        self.beta = np.zeros(dim)
        self.eps = eps
        self.momentum = momentum
        self.running_mean = np.zeros(dim)
        self.running_var = np.ones(dim)

    def forward(self, x):
        y, self.cache = _fwd(x, self.gamma, self.beta, self.eps)
        m = len(x)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * x.mean(0)
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * x.var(0) * m / (
            m - 1
        )
        return y

    def predict(self, x):
        return (
            self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        )

    def backward(self, dy):
        return _bwd(dy, self.cache)


class ModeAttr:
    """self.mode = 'train' | 'test' attribute"""

    def __init__(self, C):
        self.mode = "train"
        self.params = {"gamma": np.ones(C), "beta": np.zeros(C)}
        self.running_mean = np.zeros(C)
        self.running_var = np.ones(C)
        self.momentum = 0.9
        self.eps = 1e-5

    def forward(self, x):
        g, b = self.params["gamma"], self.params["beta"]
        if self.mode == "train":
            y, self.cache = _fwd(x, g, b, self.eps)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * x.mean(0)
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * x.var(0)
            return y
        return g * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + b

    def backward(self, dy):
        dx, dg, db = _bwd(dy, self.cache)
        self.grads = {"gamma": dg, "beta": db}
        return dx
