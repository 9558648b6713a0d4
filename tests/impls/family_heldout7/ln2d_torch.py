"""LayerNorm2d for NCHW feature maps (normalizes the C values of each pixel), as a
torch.autograd.Function with hand-written backward and a separate NHWC-memory branch."""

import torch
from torch import nn


def _is_nhwc(t):
    return (
        t.dim() == 4
        and t.is_contiguous(memory_format=torch.channels_last)
        and not t.is_contiguous()
    )


class _LayerNorm2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mu = x.mean(dim=1, keepdim=True)
        xc = x - mu
        var = xc.pow(2).mean(dim=1, keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = xc * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.nhwc = _is_nhwc(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, grad_out):
        xhat, rstd, weight = ctx.saved_tensors
        shape = (1, -1) + (1,) * (grad_out.dim() - 2)
        red = (0, *tuple(range(2, grad_out.dim())))
        dweight = (grad_out * xhat).sum(dim=red)
        dbias = grad_out.sum(dim=red)
        g = grad_out * weight.view(shape)
        if ctx.nhwc:
            g = g.contiguous(memory_format=torch.channels_last)
            proj = (g * xhat).mean(dim=1, keepdim=True)
            dx = rstd * (g - xhat * proj)
        else:
            dx = rstd * (
                g - g.mean(dim=1, keepdim=True) - xhat * (g * xhat).mean(dim=1, keepdim=True)
            )
        return dx, dweight, dbias, None


class LayerNorm2d(nn.Module):
    def __init__(self, num_channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x):
        return _LayerNorm2dFn.apply(x, self.weight, self.bias, self.eps)
