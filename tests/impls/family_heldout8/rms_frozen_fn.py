"""RMSNorm with a hand-written autograd.Function. The weight is only saved for backward when it
needs a gradient, to keep less in memory when the norm is frozen (e.g. LoRA fine-tuning)."""

import torch
from torch import nn


class _RMSNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        xhat = x * rstd
        ctx.save_for_backward(xhat, rstd, weight if ctx.needs_input_grad[1] else None)
        return xhat * weight

    @staticmethod
    def backward(ctx, gy):
        xhat, rstd, weight = ctx.saved_tensors
        gw = None
        if weight is not None:
            gw = (gy * xhat).reshape(-1, xhat.shape[-1]).sum(0)
            gy = gy * weight
        gx = rstd * (gy - xhat * (gy * xhat).mean(-1, keepdim=True))
        return gx, gw, None


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return _RMSNormFn.apply(x, self.weight, self.eps)
