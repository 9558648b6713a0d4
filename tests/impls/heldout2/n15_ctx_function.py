"""Hand-written autograd-Function style: a stateless BatchNormFunction with
forward(ctx, ...)/backward(ctx, grad) and a Context that saves tensors, wrapped by a layer."""
import numpy as np


class Context:
    def __init__(self):
        self.saved_tensors = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class BatchNormFunction:
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        axes = (0,) + tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        var = (xc ** 2).mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = xc * rstd
        ctx.save_for_backward(xc, rstd, gamma.reshape(shp))
        ctx.axes = axes
        return gamma.reshape(shp) * xhat + beta.reshape(shp), mu.reshape(-1), var.reshape(-1)

    @staticmethod
    def backward(ctx, grad_out):
        xc, rstd, g = ctx.saved_tensors
        axes = ctx.axes
        m = xc.size // xc.shape[1]
        xhat = xc * rstd
        dgamma = (grad_out * xhat).sum(axis=axes)
        dbeta = grad_out.sum(axis=axes)
        dxhat = grad_out * g
        dvar = (dxhat * xc).sum(axis=axes, keepdims=True) * -0.5 * rstd ** 3
        dmu = -(dxhat * rstd).sum(axis=axes, keepdims=True) + dvar * (-2.0 * xc).mean(axis=axes, keepdims=True)
        dx = dxhat * rstd + dvar * 2.0 * xc / m
        return dx, dgamma, dbeta


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.eps = eps
        self.momentum = momentum
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def forward(self, x):
        dt = x.dtype
        if not self.training:
            shp = (1, -1) + (1,) * (x.ndim - 2)
            inv = 1.0 / np.sqrt(self.running_var.astype(dt) + dt.type(self.eps))
            return ((x - self.running_mean.astype(dt).reshape(shp)) * inv.reshape(shp)
                    * self.weight.astype(dt).reshape(shp) + self.bias.astype(dt).reshape(shp))
        self._ctx = Context()
        y, mu, var = BatchNormFunction.forward(self._ctx, x, self.weight.astype(dt), self.bias.astype(dt), dt.type(self.eps))
        n = x.size // x.shape[1]
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1)
        return y

    def backward(self, grad_out):
        dx, self.weight_grad, self.bias_grad = BatchNormFunction.backward(self._ctx, grad_out)
        return dx
