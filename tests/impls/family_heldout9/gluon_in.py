"""Instance normalization as an MXNet Gluon HybridBlock, in NumPy.

Gluon keeps weights in Parameter objects whose ``data()`` and ``grad()`` are methods; a
Parameter of unknown shape (``in_channels=0``) is initialized on the first call (deferred
initialization). ``forward`` fetches every registered parameter's ``data()`` and hands it to
``hybrid_forward(F, x, gamma, beta)`` by name, ``F`` being the operator namespace (here a
small NumPy stand-in for ``mx.nd``). Gluon would record the graph with ``autograd``; this
block has its backward written by hand: ``backward(dy)`` returns dx and writes the
parameters' gradients (``grad_req="write"``).
"""

import numpy as np


class _NDArrayOps:
    """The ``F`` handed to hybrid_forward: the few operators this block needs."""

    @staticmethod
    def mean(a, axis, keepdims=True):
        return np.mean(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def sqrt(a):
        return np.sqrt(a)

    @staticmethod
    def reshape(a, shape):
        return np.reshape(a, shape)


nd = _NDArrayOps()


class Parameter:
    def __init__(self, name, shape=0, init="zeros", grad_req="write", allow_deferred_init=True):
        self.name = name
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.init = init
        self.grad_req = grad_req
        self.allow_deferred_init = allow_deferred_init
        self._data = None
        self._grad = None
        if all(self.shape):
            self._finish_init(self.shape)

    def _finish_init(self, shape):
        self.shape = tuple(shape)
        fill = 1.0 if self.init == "ones" else 0.0
        self._data = np.full(self.shape, fill, dtype=np.float64)
        self._grad = np.zeros(self.shape, dtype=np.float64)

    def data(self):
        if self._data is None:
            raise RuntimeError(f"Parameter '{self.name}' has not been initialized")
        return self._data

    def grad(self):
        return self._grad

    def set_data(self, value):
        self._data[...] = value

    def zero_grad(self):
        self._grad[...] = 0.0


class HybridBlock:
    def __init__(self, prefix=None):
        self.prefix = prefix or type(self).__name__.lower() + "0_"
        self._reg_params = {}

    def _register(self, attr, param):
        self._reg_params[attr] = param
        return param

    def collect_params(self):
        return {self.prefix + k: p for k, p in self._reg_params.items()}

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        for p in self._reg_params.values():
            if p._data is None:
                p._finish_init(self._infer_param_shape(x, p))
        params = {k: p.data() for k, p in self._reg_params.items()}
        return self.hybrid_forward(nd, x, **params)


class InstanceNorm(HybridBlock):
    """``InstanceNorm(axis=1, epsilon=1e-5, center=True, scale=True, in_channels=0)``."""

    def __init__(self, axis=1, epsilon=1e-5, center=True, scale=True, in_channels=0, prefix=None):
        super().__init__(prefix)
        if axis != 1:
            raise NotImplementedError("this block takes channels on axis 1")
        self._axis = axis
        self._epsilon = epsilon
        self._kwargs = {"eps": epsilon, "axis": axis, "center": center, "scale": scale}
        self.gamma = self._register(
            "gamma",
            Parameter(
                "gamma", shape=(in_channels,), init="ones", grad_req="write" if scale else "null"
            ),
        )
        self.beta = self._register(
            "beta",
            Parameter(
                "beta", shape=(in_channels,), init="zeros", grad_req="write" if center else "null"
            ),
        )
        self._saved = None

    def _infer_param_shape(self, x, param):
        return (x.shape[self._axis],)

    def hybrid_forward(self, F, x, gamma, beta):
        dtype = x.dtype
        x = np.asarray(x, dtype=np.float64)
        spatial = tuple(range(2, x.ndim))
        if not spatial:
            raise ValueError(f"InstanceNorm needs spatial axes, got input of shape {x.shape}")
        mean = F.mean(x, axis=spatial)
        centred = x - mean
        var = F.mean(centred * centred, axis=spatial)
        rstd = 1.0 / F.sqrt(var + self._epsilon)
        x_hat = centred * rstd
        bshape = (1, x.shape[1]) + (1,) * len(spatial)
        self._saved = (x_hat, rstd, spatial, bshape, gamma)
        out = x_hat * F.reshape(gamma, bshape) + F.reshape(beta, bshape)
        return out.astype(dtype)

    def backward(self, dy):
        x_hat, rstd, spatial, bshape, gamma = self._saved
        dtype = dy.dtype
        dy = np.asarray(dy, dtype=np.float64)
        red = (0, *spatial)
        if self.gamma.grad_req == "write":
            self.gamma._grad = (dy * x_hat).sum(axis=red)
        if self.beta.grad_req == "write":
            self.beta._grad = dy.sum(axis=red)
        g = dy * np.reshape(gamma, bshape)
        dx = rstd * (
            g
            - g.mean(axis=spatial, keepdims=True)
            - x_hat * (g * x_hat).mean(axis=spatial, keepdims=True)
        )
        return dx.astype(dtype)
