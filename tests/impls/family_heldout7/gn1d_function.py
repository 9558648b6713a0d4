"""GroupNorm for sequence features (N, C, L) as a torch.autograd.Function.

The module is built as ``GroupNorm1d(num_groups, num_channels, eps=1e-5)`` and takes 3-D
input only; the Function saves (x_hat, rstd) and writes the backward by hand.
"""

import torch
from torch import nn


class _GroupNorm1dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps):
        n, c, length = x.shape
        xg = x.reshape(n, num_groups, (c // num_groups) * length)
        mean = xg.mean(dim=2, keepdim=True)
        xc = xg - mean
        var = (xc * xc).mean(dim=2, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = (xc * rstd).reshape(n, c, length)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.num_groups = num_groups
        return xhat * weight[None, :, None] + bias[None, :, None]

    @staticmethod
    def backward(ctx, grad_out):
        xhat, rstd, weight = ctx.saved_tensors
        g = ctx.num_groups
        n, c, length = grad_out.shape
        dweight = (grad_out * xhat).sum(dim=(0, 2))
        dbias = grad_out.sum(dim=(0, 2))
        gx = (grad_out * weight[None, :, None]).reshape(n, g, -1)
        xh = xhat.reshape(n, g, -1)
        a = gx.mean(dim=2, keepdim=True)
        b = (gx * xh).mean(dim=2, keepdim=True)
        dx = (rstd * (gx - a - xh * b)).reshape(n, c, length)
        return dx, dweight, dbias, None, None


class GroupNorm1d(nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError(f"expected (N, C, L) input, got {tuple(x.shape)}")
        return _GroupNorm1dFn.apply(x, self.weight, self.bias, self.num_groups, self.eps)
