"""Apex ``FusedLayerNorm``-style module: a ``torch.autograd.Function`` with a hand-written
backward, wrapped in an ``nn.Module`` holding ``weight`` and ``bias``.

The Function's forward saves (x_hat, rstd, weight) with ``ctx.save_for_backward``; its
backward gives (dx, dweight, dbias) from the usual closed form, ``None`` for the non-tensor
arguments. Normalization over the last ``len(normalized_shape)`` axes (here one axis).

Correct.
"""

import numbers

import torch
from torch import nn


class _LayerNormAffine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mean = x.mean(dim=-1, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(dim=-1, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = xc * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad_out):
        xhat, rstd, weight = ctx.saved_tensors
        batch_dims = tuple(range(grad_out.dim() - 1))
        grad_weight = (grad_out * xhat).sum(dim=batch_dims)
        grad_bias = grad_out.sum(dim=batch_dims)
        g = grad_out * weight
        grad_x = rstd * (
            g - g.mean(dim=-1, keepdim=True) - xhat * (g * xhat).mean(dim=-1, keepdim=True)
        )
        return grad_x, grad_weight, grad_bias, None


class FusedLayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x):
        return _LayerNormAffine.apply(x, self.weight, self.bias, self.eps)
