"""BatchNorm with a hand-written backward that views the saved input as (N, C, M)."""

import torch
from torch import nn


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        n, c = x.shape[0], x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        inv = torch.rsqrt(var + eps)
        ctx.save_for_backward(x, mean, inv, weight)
        ctx.nc = (n, c)
        return (x - mean.view(shape)) * inv.view(shape) * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, dy):
        x, mean, inv, weight = ctx.saved_tensors
        n, c = ctx.nc
        k = x.numel() // (n * c)
        # view the saved input as (N, C, M) without a copy
        x3 = x.as_strided((n, c, k), (c * k, k, 1))
        dy3 = dy.reshape(n, c, k)
        xh = (x3 - mean.view(1, c, 1)) * inv.view(1, c, 1)
        m = n * k
        dw = (dy3 * xh).sum((0, 2))
        db = dy3.sum((0, 2))
        g = dy3 * weight.view(1, c, 1)
        dx = (
            inv.view(1, c, 1)
            / m
            * (m * g - g.sum((0, 2), keepdim=True) - xh * (g * xh).sum((0, 2), keepdim=True))
        )
        return dx.reshape(dy.shape), dw, db, None


class StridedBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            shape = [1, -1] + [1] * (x.dim() - 2)
            xh = (x - self.running_mean.view(shape)) / torch.sqrt(
                self.running_var.view(shape) + self.eps
            )
            return xh * self.weight.view(shape) + self.bias.view(shape)
        with torch.no_grad():
            dims = [0, *range(2, x.dim())]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(dims))
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dims))
        return _BNFunction.apply(x, self.weight, self.bias, self.eps)
