"""A tinygrad-like tiny LAZY autograd engine on NumPy: operations only record a graph; a
tensor is computed when it is realized (`.realize()`, `.numpy()`, or the `.data` property).
`Tensor.backward(gradient=None)` (a scalar loss, or an explicit output gradient) fills `.grad`
(itself a Tensor) on every tensor whose `requires_grad` is not False (None, the default,
counts as yes, as in tinygrad). Parameters are cast to the input's dtype inside the graph.

`BatchNorm(sz, eps=1e-5, momentum=0.1)`: `weight`/`bias` Tensors, running statistics as
NumPy arrays (PyTorch convention: unbiased running variance), `training` flag switched by
`train()`/`eval()`. No hand-written backward.

No planted mistake.
"""

import numpy as np


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


class Tensor:
    def __init__(self, data=None, requires_grad=None, _op=None, _parents=()):
        if data is None or isinstance(data, (int, float)):
            self._buf = data  # a Python number stays weakly typed
        else:
            self._buf = np.asarray(data)
        self._op = _op  # (forward(*arrays), backward(g, out, *arrays) -> grads per parent)
        self._parents = _parents
        self.requires_grad = requires_grad
        self.grad = None

    # ---- realization
    def realize(self):
        if self._buf is None:
            fwd, _ = self._op
            self._buf = fwd(*(p.realize()._buf for p in self._parents))
        return self

    def numpy(self):
        return self.realize()._buf.copy()

    @property
    def data(self):
        return self.realize()._buf

    @data.setter
    def data(self, value):
        self._buf, self._op, self._parents = np.asarray(value), None, ()

    @property
    def shape(self):
        return self.realize()._buf.shape

    @property
    def dtype(self):
        return self.realize()._buf.dtype

    @staticmethod
    def ones(*shape, **kw):
        return Tensor(np.ones(shape), **kw)

    @staticmethod
    def zeros(*shape, **kw):
        return Tensor(np.zeros(shape), **kw)

    # ---- graph building
    def _lift(self, other):
        return other if isinstance(other, Tensor) else Tensor(other, requires_grad=False)

    def _binary(self, other, fwd, bwd):
        other = self._lift(other)
        return Tensor(_op=(fwd, bwd), _parents=(self, other))

    def __add__(self, o):
        return self._binary(
            o,
            lambda a, b: a + b,
            lambda g, out, a, b: (_unbroadcast(g, np.shape(a)), _unbroadcast(g, np.shape(b))),
        )

    def __sub__(self, o):
        return self._binary(
            o,
            lambda a, b: a - b,
            lambda g, out, a, b: (_unbroadcast(g, np.shape(a)), _unbroadcast(-g, np.shape(b))),
        )

    def __mul__(self, o):
        return self._binary(
            o,
            lambda a, b: a * b,
            lambda g, out, a, b: (
                _unbroadcast(g * b, np.shape(a)),
                _unbroadcast(g * a, np.shape(b)),
            ),
        )

    __radd__ = __add__
    __rmul__ = __mul__

    def rsqrt(self):
        return Tensor(
            _op=(lambda a: 1.0 / np.sqrt(a), lambda g, out, a: (-0.5 * g * out**3,)),
            _parents=(self,),
        )

    def sum(self, axis=None, keepdim=False):
        def bwd(g, out, a):
            if not keepdim and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, a.shape),)

        return Tensor(_op=(lambda a: a.sum(axis=axis, keepdims=keepdim), bwd), _parents=(self,))

    def mean(self, axis=None, keepdim=False):
        def fwd(a):
            return a.mean(axis=axis, keepdims=keepdim)

        def bwd(g, out, a):
            n = a.size // out.size
            if not keepdim and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g / n, a.shape),)

        return Tensor(_op=(fwd, bwd), _parents=(self,))

    def reshape(self, *shape):
        return Tensor(
            _op=(lambda a: a.reshape(shape), lambda g, out, a: (g.reshape(a.shape),)),
            _parents=(self,),
        )

    def cast(self, dtype):
        return Tensor(
            _op=(lambda a: a.astype(dtype), lambda g, out, a: (g.astype(a.dtype),)),
            _parents=(self,),
        )

    # ---- autodiff
    def backward(self, gradient=None):
        self.realize()
        if gradient is None:
            if self._buf.size != 1:
                raise RuntimeError("backward() needs a gradient for a non-scalar tensor")
            gradient = np.ones_like(self._buf)
        gradient = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        topo, seen = [], set()

        def visit(t):
            if id(t) in seen:
                return
            seen.add(id(t))
            for p in t._parents:
                visit(p)
            topo.append(t)

        visit(self)
        grads = {id(self): gradient}
        for t in reversed(topo):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if not t._parents:
                if t.requires_grad is not False:
                    t.grad = Tensor(g if t.grad is None else t.grad.data + g, requires_grad=False)
                continue
            _, bwd = t._op
            pgs = bwd(g, t._buf, *(p._buf for p in t._parents))
            for p, pg in zip(t._parents, pgs, strict=False):
                if p.requires_grad is False and not p._parents:
                    continue
                grads[id(p)] = pg if id(p) not in grads else grads[id(p)] + pg
        return self


class BatchNorm:
    def __init__(self, sz, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = Tensor.ones(sz)
        self.bias = Tensor.zeros(sz)
        self.running_mean = np.zeros(sz)
        self.running_var = np.ones(sz)
        self.num_batches_tracked = 0
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        nd = len(x.shape)
        c = x.shape[1]
        axes = (0, *tuple(range(2, nd)))
        shp = (1, c) + (1,) * (nd - 2)
        dt = x.dtype
        if self.training:
            mean = x.mean(axis=axes, keepdim=True)
            xc = x - mean
            var = (xc * xc).mean(axis=axes, keepdim=True)
            m = x.data.size // c
            bm = mean.data.reshape(c).astype(np.float64)
            bv = var.data.reshape(c).astype(np.float64)
            k = self.momentum
            self.running_mean = (1 - k) * self.running_mean + k * bm
            self.running_var = (1 - k) * self.running_var + k * bv * m / (m - 1)
            self.num_batches_tracked += 1
            invstd = (var + self.eps).rsqrt()
        else:
            xc = x - Tensor(self.running_mean.reshape(shp).astype(dt), requires_grad=False)
            invstd = Tensor(
                (1.0 / np.sqrt(self.running_var + self.eps)).reshape(shp).astype(dt),
                requires_grad=False,
            )
        w = self.weight.cast(dt).reshape(*shp)
        b = self.bias.cast(dt).reshape(*shp)
        return xc * invstd * w + b
