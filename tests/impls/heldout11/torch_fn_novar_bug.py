"""torch BN with a custom autograd.Function whose backward forgets the path through the
batch variance: dx = gamma * rstd * (dy - mean(dy)). Forward and dgamma/dbeta are right."""

import torch
from torch import nn


class _BNFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, eps):
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims, keepdim=True)
        rstd = torch.rsqrt(((x - mean) ** 2).mean(dims, keepdim=True) + eps)
        xh = (x - mean) * rstd
        ctx.save_for_backward(xh, rstd, w)
        ctx.dims, ctx.shape = dims, shape
        return xh * w.view(shape) + b.view(shape)

    @staticmethod
    def backward(ctx, dy):
        xh, rstd, w = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        dx = w.view(shape) * rstd * (dy - dy.mean(dims, keepdim=True))
        return dx, (dy * xh).sum(dims), dy.sum(dims), None


class FnBN(nn.Module):
    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        return _BNFn.apply(x, self.weight, self.bias, self.eps)
