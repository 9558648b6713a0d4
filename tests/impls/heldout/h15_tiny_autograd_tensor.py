"""A tiny reverse-mode autograd engine with its own Tensor class, and a BatchNorm module
built from its primitive operations (the way "write your own deep-learning framework"
courses and micro-frameworks do it).  There is no hand-written backward: the gradient
comes from `out.backward(grad)`, which fills `.grad` on every tensor that needs it.

Modules switch mode with .train() / .eval(); parameters are Tensors `weight` and `bias`;
the running statistics are plain arrays (PyTorch convention).
"""
import numpy as np


def _unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad


class Tensor:
    def __init__(self, data, requires_grad=False, _parents=(), _backward=None):
        self.data = np.asarray(data)
        self.requires_grad = requires_grad
        self.grad = None
        self._parents = _parents
        self._backward = _backward

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)

    def __repr__(self):
        return f"Tensor({self.data!r}, requires_grad={self.requires_grad})"

    @staticmethod
    def _lift(v):
        return v if isinstance(v, Tensor) else Tensor(v)

    def _make(self, data, parents, backward):
        needs = any(p.requires_grad for p in parents)
        return Tensor(data, needs, parents if needs else (), backward if needs else None)

    def __add__(self, other):
        other = self._lift(other)
        def bw(g):
            return _unbroadcast(g, self.shape), _unbroadcast(g, other.shape)
        return self._make(self.data + other.data, (self, other), bw)

    __radd__ = __add__

    def __neg__(self):
        return self._make(-self.data, (self,), lambda g: (-g,))

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) + (-self)

    def __mul__(self, other):
        other = self._lift(other)
        def bw(g):
            return (_unbroadcast(g * other.data, self.shape),
                    _unbroadcast(g * self.data, other.shape))
        return self._make(self.data * other.data, (self, other), bw)

    __rmul__ = __mul__

    def __pow__(self, k):
        return self._make(self.data ** k, (self,), lambda g: (g * k * self.data ** (k - 1),))

    def __truediv__(self, other):
        return self * (self._lift(other) ** -1)

    def sum(self, axis=None, keepdims=False):
        def bw(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, self.shape).copy(),)
        return self._make(self.data.sum(axis=axis, keepdims=keepdims), (self,), bw)

    def mean(self, axis=None, keepdims=False):
        n = self.data.size // np.asarray(self.data.sum(axis=axis, keepdims=keepdims)).size
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / n)

    def reshape(self, *shape):
        return self._make(self.data.reshape(*shape), (self,), lambda g: (g.reshape(self.shape),))

    def backward(self, grad=None):
        order, seen = [], set()
        def visit(t):
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._parents:
                    visit(p)
                order.append(t)
        visit(self)
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad)
        for t in reversed(order):
            if t._backward is None or t.grad is None:
                continue
            for p, g in zip(t._parents, t._backward(t.grad)):
                if p.requires_grad:
                    p.grad = g if p.grad is None else p.grad + g


class Module:
    def __init__(self):
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def parameters(self):
        return [v for v in vars(self).values() if isinstance(v, Tensor) and v.requires_grad]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


class BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = Tensor(np.ones(num_features), requires_grad=True)
        self.bias = Tensor(np.zeros(num_features), requires_grad=True)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        w = self.weight.reshape(shape)
        b = self.bias.reshape(shape)
        if not self.training:
            rm = self.running_mean.reshape(shape)
            rv = self.running_var.reshape(shape)
            return (x - rm) / ((rv + self.eps) ** 0.5) * w + b
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        n = x.data.size // self.num_features
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean.data.ravel()
        self.running_var = ((1 - self.momentum) * self.running_var
                            + self.momentum * var.data.ravel() * n / (n - 1))
        return xc / ((var + self.eps) ** 0.5) * w + b
