"""PyTorch BN module built on a custom torch.autograd.Function with a hand-written
backward, statistics in registered buffers with unusual names.  CORRECT (PyTorch
convention: momentum 0.1 on the batch, unbiased running variance).

Style: "BN from scratch" tutorials that write `class _BN(torch.autograd.Function)` with
`ctx.save_for_backward` and return the batch mean and variance as extra, non-differentiable
outputs that the module folds into its buffers.  The buffers are `ema_center`,
`ema_spread` and `updates_seen`; the parameters `scale` and `offset`.  Any rank (N, C, ...).

    bncheck verify torch_fn_bn.py:FunctionBatchNorm --convention torch
"""

import torch
from torch import nn


class _BatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, offset, eps):
        dims = [0, *range(2, x.dim())]
        view = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dim=dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=dims, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = centred * rstd
        ctx.save_for_backward(xhat, rstd, scale)
        ctx.dims = dims
        y = xhat * scale.view(view) + offset.view(view)
        mean, var = mean.flatten(), var.flatten()
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        xhat, rstd, scale = ctx.saved_tensors
        dims = ctx.dims
        view = [1, -1] + [1] * (grad_y.dim() - 2)
        d_offset = grad_y.sum(dim=dims)
        d_scale = (grad_y * xhat).sum(dim=dims)
        g = grad_y * scale.view(view)
        grad_x = rstd * (
            g - g.mean(dim=dims, keepdim=True) - xhat * (g * xhat).mean(dim=dims, keepdim=True)
        )
        return grad_x, d_scale, d_offset, None


class FunctionBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.scale = nn.Parameter(torch.ones(num_features))
        self.offset = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("ema_center", torch.zeros(num_features))
        self.register_buffer("ema_spread", torch.ones(num_features))
        self.register_buffer("updates_seen", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        view = [1, -1] + [1] * (x.dim() - 2)
        if not self.training:
            rstd = torch.rsqrt(self.ema_spread + self.eps)
            return (x - self.ema_center.view(view)) * (rstd * self.scale).view(
                view
            ) + self.offset.view(view)
        y, mean, var = _BatchNormFn.apply(x, self.scale, self.offset, self.eps)
        n = x.numel() // x.shape[1]
        with torch.no_grad():
            self.ema_center.lerp_(mean.to(self.ema_center.dtype), self.momentum)
            unbiased = var * n / (n - 1)
            self.ema_spread.lerp_(unbiased.to(self.ema_spread.dtype), self.momentum)
            self.updates_seen += 1
        return y
