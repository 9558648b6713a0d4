"""Chainer-flavoured BN written from scratch on NumPy: a `FunctionNode` whose
`forward(self, inputs)` takes and returns tuples of arrays and whose
`backward(self, target_input_indexes, grad_outputs)` returns the gradients of the inputs
asked for; `Variable` objects (`.array`, `.data`, `.grad`) with Chainer's backward protocol
(the output's gradient is SET first, `y.grad = gy`, then `y.backward()` with no argument;
`backward(retain_grad=False)`); parameter gradients accumulate until `link.cleargrads()`.

The link `BatchNormalization(size, decay=0.9, eps=2e-5)` keeps `avg_mean` and `avg_var`
(decay on the old value, unbiased variance: the torch convention with momentum 0.1). Train or
test is the process-wide `config.train`, switched with `with using_config('train', False):`.

No planted mistake.
"""

import contextlib

import numpy as np


class _Config:
    train = True
    enable_backprop = True


config = _Config()


@contextlib.contextmanager
def using_config(name, value):
    old = getattr(config, name)
    setattr(config, name, value)
    try:
        yield
    finally:
        setattr(config, name, old)


class Variable:
    def __init__(self, data=None, name=None, grad=None, requires_grad=True):
        self.array = None if data is None else np.asarray(data)
        self.name = name
        self.grad = grad
        self.requires_grad = requires_grad
        self.creator = None

    @property
    def data(self):
        return self.array

    @data.setter
    def data(self, value):
        self.array = value

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    def cleargrad(self):
        self.grad = None

    def _accumulate(self, g):
        self.grad = g if self.grad is None else self.grad + g

    def backward(self, retain_grad=False):
        if self.creator is None:
            return
        if self.grad is None:
            if self.array.size != 1:
                raise RuntimeError("set the gradient of a non-scalar output first: y.grad = gy")
            self.grad = np.ones_like(self.array)
        order, seen, stack = [], set(), [self.creator]
        while stack:  # the nodes reachable from this output, latest first
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            order.append(node)
            stack.extend(v.creator for v in node.inputs if v.creator is not None)
        order.sort(key=lambda n: -n.rank)
        for node in order:
            gys = tuple(o.grad for o in node.outputs)
            wanted = tuple(i for i, v in enumerate(node.inputs) if v.requires_grad)
            if not wanted:
                continue
            gxs = node.backward(wanted, gys)
            for i, g in zip(wanted, gxs, strict=False):
                if g is not None:
                    node.inputs[i]._accumulate(g)
            if not retain_grad:
                for o in node.outputs:
                    if o is not self:
                        o.grad = None


class Parameter(Variable):
    pass


class FunctionNode:
    rank = 0

    def apply(self, inputs):
        in_vars = [
            v if isinstance(v, Variable) else Variable(v, requires_grad=False) for v in inputs
        ]
        outs = self.forward(tuple(v.array for v in in_vars))
        out_vars = [Variable(o) for o in outs]
        if config.enable_backprop:
            self.inputs = in_vars
            self.outputs = out_vars
            self.rank = max((v.creator.rank + 1 for v in in_vars if v.creator), default=0)
            for o in out_vars:
                o.creator = self
        return tuple(out_vars)

    def retain_inputs(self, indexes):
        self._retained = indexes

    def get_retained_inputs(self):
        return tuple(self.inputs[i].array for i in self._retained)


def _axes(x):
    return (0, *tuple(range(2, x.ndim))), (1, -1) + (1,) * (x.ndim - 2)


class BatchNormalizationFunction(FunctionNode):
    def __init__(self, eps=2e-5, mean=None, var=None, decay=0.9):
        self.running_mean, self.running_var = mean, var
        self.eps, self.decay = eps, decay

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, gamma, beta = inputs
        axes, ex = _axes(x)
        wt = np.promote_types(x.dtype, gamma.dtype)
        xw = x.astype(wt, copy=False)
        mean = xw.mean(axis=axes)
        xc = xw - mean.reshape(ex)
        var = (xc * xc).mean(axis=axes)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = xc * self.inv_std.reshape(ex)
        y = gamma.astype(wt).reshape(ex) * self.x_hat + beta.astype(wt).reshape(ex)
        if self.running_mean is not None:
            m = x.size // gamma.size
            adjust = m / max(m - 1.0, 1.0)
            self.running_mean *= self.decay
            self.running_mean += (1 - self.decay) * mean
            self.running_var *= self.decay
            self.running_var += (1 - self.decay) * adjust * var
        return (y.astype(x.dtype, copy=False),)

    def backward(self, indexes, grad_outputs):
        x, gamma = self.get_retained_inputs()
        (gy,) = grad_outputs
        axes, ex = _axes(x)
        g = gy.astype(self.x_hat.dtype, copy=False)
        ggamma = (g * self.x_hat).sum(axis=axes)
        gbeta = g.sum(axis=axes)
        m = x.size // gamma.size
        gx = (gamma * self.inv_std).reshape(ex) * (
            g - (gbeta.reshape(ex) + self.x_hat * ggamma.reshape(ex)) / m
        )
        grads = {
            0: gx.astype(x.dtype, copy=False),
            1: ggamma.astype(gamma.dtype),
            2: gbeta.astype(gamma.dtype),
        }
        return tuple(grads[i] for i in indexes)


class FixedBatchNormalization(FunctionNode):
    def __init__(self, eps):
        self.eps = eps

    def forward(self, inputs):
        self.retain_inputs((0, 1, 3, 4))
        x, gamma, beta, mean, var = inputs
        _, ex = _axes(x)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean.reshape(ex)) * self.inv_std.reshape(ex)
        y = gamma.reshape(ex) * self.x_hat + beta.reshape(ex)
        return (y.astype(x.dtype, copy=False),)

    def backward(self, indexes, grad_outputs):
        x, gamma, _, _ = self.get_retained_inputs()
        (gy,) = grad_outputs
        axes, ex = _axes(x)
        grads = {
            0: (gy * (gamma * self.inv_std).reshape(ex)).astype(x.dtype, copy=False),
            1: (gy * self.x_hat).sum(axis=axes).astype(gamma.dtype),
            2: gy.sum(axis=axes).astype(gamma.dtype),
        }
        return tuple(grads.get(i) for i in indexes)


class BatchNormalization:
    """Link: parameters gamma/beta (Parameter), averages avg_mean/avg_var."""

    def __init__(self, size, decay=0.9, eps=2e-5, dtype=np.float64):
        self.gamma = Parameter(np.ones(size, dtype=dtype), name="gamma")
        self.beta = Parameter(np.zeros(size, dtype=dtype), name="beta")
        self.avg_mean = np.zeros(size, dtype=dtype)
        self.avg_var = np.ones(size, dtype=dtype)
        self.decay = decay
        self.eps = eps

    def cleargrads(self):
        self.gamma.cleargrad()
        self.beta.cleargrad()

    def forward(self, x):
        if config.train:
            fn = BatchNormalizationFunction(self.eps, self.avg_mean, self.avg_var, self.decay)
            (y,) = fn.apply((x, self.gamma, self.beta))
        else:
            fn = FixedBatchNormalization(self.eps)
            (y,) = fn.apply(
                (
                    x,
                    self.gamma,
                    self.beta,
                    Variable(self.avg_mean, requires_grad=False),
                    Variable(self.avg_var, requires_grad=False),
                )
            )
        return y

    __call__ = forward
