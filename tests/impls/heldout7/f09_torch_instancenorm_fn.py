"""InstanceNorm2d written as a custom torch.autograd.Function with a hand-derived
backward, wrapped in an nn.Module.

BUG (planted): eps is added to the standard deviation, outside the square root:
y = (x - mu) / (sqrt(var) + eps). The backward is the exact derivative of that forward.
"""

import torch
from torch import nn


class _InstanceNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = tuple(range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mu = x.mean(dim=dims, keepdim=True)
        xc = x - mu
        std = xc.pow(2).mean(dim=dims, keepdim=True).sqrt()
        r = 1.0 / (std + eps)
        xhat = xc * r
        ctx.save_for_backward(xc, std, r, weight)
        ctx.dims, ctx.shape = dims, shape
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, dy):
        xc, std, r, weight = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        red = (0,) + dims
        dweight = (dy * xc * r).sum(dim=red)
        dbias = dy.sum(dim=red)
        g = dy * weight.view(shape)
        dx = r * (g - g.mean(dim=dims, keepdim=True)) - (r * r / std) * xc * (
            g * xc
        ).mean(dim=dims, keepdim=True)
        return dx, dweight, dbias, None


class InstanceNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        if x.dim() not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {x.dim()}D input)")
        return _InstanceNormFn.apply(x, self.weight, self.bias, self.eps)
