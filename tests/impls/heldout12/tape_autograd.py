"""A tiny reverse-mode autograd in NumPy (micrograd style, but on arrays) and a BatchNorm
module built from its primitive ops.  Running statistics follow PyTorch (momentum 0.1,
unbiased running variance); `train()` / `eval()` switch modes."""

import numpy as np


def _sum_to(grad, shape):
    # undo broadcasting: sum the gradient back down to `shape`
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad


class Tensor:
    def __init__(self, data, parents=(), op=""):
        self.data = np.asarray(data)
        self.grad = None
        self._parents = parents
        self._op = op
        self._backward = lambda: None

    @staticmethod
    def lift(v, like=None):
        if isinstance(v, Tensor):
            return v
        # constants take the dtype of the tensor they meet
        return Tensor(np.asarray(v) if like is None else np.asarray(v, like.data.dtype))

    @property
    def shape(self):
        return self.data.shape

    def __add__(self, other):
        other = Tensor.lift(other, self)
        out = Tensor(self.data + other.data, (self, other), "+")

        def back():
            self.grad += _sum_to(out.grad, self.shape)
            other.grad += _sum_to(out.grad, other.shape)

        out._backward = back
        return out

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Tensor.lift(other, self))

    def __mul__(self, other):
        other = Tensor.lift(other, self)
        out = Tensor(self.data * other.data, (self, other), "*")

        def back():
            self.grad += _sum_to(out.grad * other.data, self.shape)
            other.grad += _sum_to(out.grad * self.data, other.shape)

        out._backward = back
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def __pow__(self, p):
        out = Tensor(self.data**p, (self,), f"**{p}")

        def back():
            self.grad += out.grad * p * self.data ** (p - 1)

        out._backward = back
        return out

    def mean(self, axis, keepdims=True):
        n = np.prod([self.shape[a] for a in axis])
        out = Tensor(self.data.mean(axis=axis, keepdims=keepdims), (self,), "mean")

        def back():
            g = out.grad if keepdims else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.shape) / n

        out._backward = back
        return out

    def reshape(self, *shape):
        out = Tensor(self.data.reshape(*shape), (self,), "reshape")

        def back():
            self.grad += out.grad.reshape(self.shape)

        out._backward = back
        return out

    def backward(self, grad=None):
        order, seen = [], set()

        def visit(t):
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._parents:
                    visit(p)
                order.append(t)

        visit(self)
        for t in order:  # every node of this graph starts from zero
            t.grad = np.zeros_like(t.data)
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad, self.data.dtype)
        for t in reversed(order):
            t._backward()


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = Tensor(np.ones(num_features))
        self.bias = Tensor(np.zeros(num_features))
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def parameters(self):
        return [self.weight, self.bias]

    def __call__(self, x):
        x = Tensor.lift(x)
        c = x.shape[1]
        bshape = (1, c) + (1,) * (x.data.ndim - 2)
        axes = (0,) + tuple(range(2, x.data.ndim))
        dt = x.data.dtype
        w = self.weight.reshape(*bshape)
        b = self.bias.reshape(*bshape)
        if self.training:
            mu = x.mean(axes)
            xc = x - mu
            var = (xc * xc).mean(axes)
            xhat = xc * (var + self.eps) ** -0.5
            m = x.data.size // c
            with np.errstate(all="ignore"):
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu.data.reshape(c)
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var.data.reshape(c) * m / (m - 1)
        else:
            rm = Tensor(self.running_mean.reshape(bshape).astype(dt))
            rv = Tensor(self.running_var.reshape(bshape).astype(dt))
            xhat = (x - rm) * (rv + self.eps) ** -0.5
        # keep the input's dtype: parameters are cast (the cast is a leaf-free view here)
        if w.data.dtype != dt:
            w = _cast(w, dt)
            b = _cast(b, dt)
        return xhat * w + b


def _cast(t, dtype):
    out = Tensor(t.data.astype(dtype), (t,), "cast")

    def back():
        t.grad += out.grad.astype(t.data.dtype)

    out._backward = back
    return out
