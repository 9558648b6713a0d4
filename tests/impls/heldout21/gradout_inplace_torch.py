"""A from-scratch PyTorch BatchNorm module (any rank 2-5, channels on dim 1) whose training
forward is a hand-written `torch.autograd.Function` with its own backward; eval mode is plain
tensor arithmetic (autograd gives its gradient). PyTorch's conventions: momentum 0.1 on the
batch, unbiased running variance, eps 1e-5.

ONE PLANTED BUG: the backward centres grad_output IN PLACE (it saves a temporary), so it
overwrites the gradient it was handed: the caller's dy, and the gradient of every other tensor
autograd gave the same buffer (the skip branch of a residual `x + bn(x)`). The numbers it
returns are right.
"""

import torch
from torch import nn


class _TrainBN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        invstd = torch.rsqrt(var + eps)
        xhat = (x - mean) * invstd
        ctx.save_for_backward(xhat, invstd, weight)
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, grad_output):
        xhat, invstd, weight = ctx.saved_tensors
        dims = [0, *range(2, grad_output.dim())]
        shape = [1, -1] + [1] * (grad_output.dim() - 2)
        m = grad_output.numel() // grad_output.size(1)
        grad_bias = grad_output.sum(dim=dims)
        # centre the incoming gradient in place: sum((g - mean g) * xhat) = sum(g * xhat)
        g = grad_output.contiguous()
        g.sub_(grad_bias.view(shape) / m)
        grad_weight = (g * xhat).sum(dim=dims)
        k = weight.view(shape) * invstd
        grad_input = k * (g - xhat * grad_weight.view(shape) / m)
        return grad_input, grad_weight, grad_bias, None


class MyBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        w, b = self.weight.to(x.dtype), self.bias.to(x.dtype)
        if self.training:
            dims = [0, *range(2, x.dim())]
            with torch.no_grad():
                mean = x.mean(dim=dims)
                var = x.var(dim=dims, unbiased=True)
                a = self.momentum
                self.running_mean.mul_(1 - a).add_(a * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - a).add_(a * var.to(self.running_var.dtype))
            return _TrainBN.apply(x, w, b, self.eps)
        rm = self.running_mean.to(x.dtype).view(shape)
        rv = self.running_var.to(x.dtype).view(shape)
        return (x - rm) * torch.rsqrt(rv + self.eps) * w.view(shape) + b.view(shape)
