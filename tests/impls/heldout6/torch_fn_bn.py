"""A torch.autograd.Function batch norm with a hand-written backward, wrapped in a module whose
parameters and buffers have unusual names. PyTorch convention."""

import torch
from torch import nn


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, shift, eps):
        dims = [0, *range(2, x.dim())]
        view = [1, -1] + [1] * (x.dim() - 2)
        xd = x.double()
        mu = xd.mean(dim=dims, keepdim=True)
        var = (xd - mu).pow(2).mean(dim=dims, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = (xd - mu) * rstd
        ctx.save_for_backward(xhat, rstd, scale)
        y = xhat * scale.double().view(view) + shift.double().view(view)
        return y.to(x.dtype), mu.flatten(), var.flatten()

    @staticmethod
    def backward(ctx, gy, _gmu, _gvar):
        xhat, rstd, scale = ctx.saved_tensors
        dims = [0, *range(2, gy.dim())]
        view = [1, -1] + [1] * (gy.dim() - 2)
        g = gy.double()
        m = g.numel() // g.shape[1]
        dshift = g.sum(dim=dims)
        dscale = (g * xhat).sum(dim=dims)
        k = scale.double().view(view) * rstd / m
        gx = k * (m * g - dshift.view(view) - xhat * dscale.view(view))
        return gx.to(gy.dtype), dscale.to(scale.dtype), dshift.to(scale.dtype), None


class FnBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.scale = nn.Parameter(torch.ones(num_features))
        self.shift = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("stat_mu", torch.zeros(num_features))
        self.register_buffer("stat_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            view = [1, -1] + [1] * (x.dim() - 2)
            rstd = torch.rsqrt(self.stat_var.to(x.dtype) + self.eps).view(view)
            xhat = (x - self.stat_mu.to(x.dtype).view(view)) * rstd
            return xhat * self.scale.to(x.dtype).view(view) + self.shift.to(x.dtype).view(view)
        y, mu, var = _BNFunction.apply(x, self.scale, self.shift, self.eps)
        m = x.numel() // x.shape[1]
        with torch.no_grad():
            self.stat_mu.mul_(1 - self.momentum).add_(self.momentum * mu.to(self.stat_mu.dtype))
            unb = (var * m / (m - 1)).to(self.stat_var.dtype)
            self.stat_var.mul_(1 - self.momentum).add_(self.momentum * unb)
        return y
