"""Operator-overloading Variable graph with an explicit topological backward pass,
and a BatchNorm layer composed from its primitive ops."""
import numpy as np


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


class Variable:
    def __init__(self, data, parents=(), grad_fns=()):
        # python scalars stay python scalars so they do not promote float32 data
        self.data = data if isinstance(data, (int, float)) else np.asarray(data)
        self.grad = None
        self._parents = parents
        self._grad_fns = grad_fns

    @property
    def shape(self):
        return np.shape(self.data)

    def numpy(self):
        return self.data

    @staticmethod
    def lift(v):
        return v if isinstance(v, Variable) else Variable(v)

    def __add__(self, other):
        other = Variable.lift(other)
        return Variable(self.data + other.data, (self, other),
                        (lambda g: _unbroadcast(g, self.shape), lambda g: _unbroadcast(g, other.shape)))

    __radd__ = __add__

    def __neg__(self):
        return Variable(-self.data, (self,), (lambda g: -g,))

    def __sub__(self, other):
        return self + (-Variable.lift(other))

    def __mul__(self, other):
        other = Variable.lift(other)
        return Variable(self.data * other.data, (self, other),
                        (lambda g: _unbroadcast(g * other.data, self.shape),
                         lambda g: _unbroadcast(g * self.data, other.shape)))

    __rmul__ = __mul__

    def __pow__(self, p):
        return Variable(self.data ** p, (self,), (lambda g: g * p * self.data ** (p - 1),))

    def __truediv__(self, other):
        return self * Variable.lift(other) ** -1

    def sum(self, axis=None, keepdims=True):
        shape = self.shape
        return Variable(self.data.sum(axis=axis, keepdims=keepdims), (self,),
                        (lambda g: np.broadcast_to(g, shape).copy(),))

    def mean(self, axis=None):
        n = self.data.size // self.data.sum(axis=axis, keepdims=True).size
        return self.sum(axis=axis) * (1.0 / n)

    def astype(self, dtype):
        old = self.data.dtype
        return Variable(self.data.astype(dtype), (self,), (lambda g: g.astype(old),))

    def reshape(self, shape):
        old = self.shape
        return Variable(self.data.reshape(shape), (self,), (lambda g: g.reshape(old),))

    def backward(self, grad=None):
        order, seen = [], set()

        def visit(v):
            if id(v) in seen:
                return
            seen.add(id(v))
            for p in v._parents:
                visit(p)
            order.append(v)

        visit(self)
        for v in order:
            v.grad = None
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad)
        for v in reversed(order):
            if v.grad is None:
                continue
            for p, fn in zip(v._parents, v._grad_fns):
                gp = fn(v.grad)
                p.grad = gp if p.grad is None else p.grad + gp


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.gamma = Variable(np.ones(num_features))
        self.beta = Variable(np.zeros(num_features))
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        x = Variable.lift(x)
        nd = x.data.ndim
        axes = (0,) + tuple(range(2, nd))
        bshape = (1, -1) + (1,) * (nd - 2)
        dt = x.data.dtype
        g = self.gamma.astype(dt).reshape(bshape)
        b = self.beta.astype(dt).reshape(bshape)
        if self.training:
            mu = x.mean(axis=axes)
            xc = x - mu
            var = (xc * xc).mean(axis=axes)
            xhat = xc / (var + dt.type(self.eps)) ** 0.5
            n = x.data.size // x.data.shape[1]
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu.data.reshape(-1)
            self.running_var = (1 - m) * self.running_var + m * var.data.reshape(-1) * n / (n - 1)
        else:
            rm = self.running_mean.astype(dt).reshape(bshape)
            rs = np.sqrt(self.running_var.astype(dt) + dt.type(self.eps)).reshape(bshape)
            xhat = (x - rm) / rs
        return xhat * g + b
