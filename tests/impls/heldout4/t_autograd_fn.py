"""BatchNorm as a torch.autograd.Function with a hand-written backward, in a Module."""

import torch
from torch import nn


def _dims(x):
    return [0, *range(2, x.dim())]


class BatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = _dims(x)
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dim=dims, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(dim=dims, keepdim=True)
        inv_std = torch.rsqrt(var + eps)
        x_hat = xc * inv_std
        ctx.save_for_backward(x_hat, inv_std, weight)
        return x_hat * weight.reshape(shape) + bias.reshape(shape)

    @staticmethod
    def backward(ctx, grad_out):
        x_hat, inv_std, weight = ctx.saved_tensors
        dims = _dims(x_hat)
        shape = [1, -1] + [1] * (x_hat.dim() - 2)
        m = x_hat.numel() // x_hat.size(1)
        grad_bias = grad_out.sum(dim=dims)
        grad_weight = (grad_out * x_hat).sum(dim=dims)
        g = grad_out * weight.reshape(shape)
        sum_g = g.sum(dim=dims, keepdim=True)
        sum_gx = (g * x_hat).sum(dim=dims, keepdim=True)
        grad_x = inv_std / m * (m * g - sum_g - x_hat * sum_gx)
        return grad_x, grad_weight, grad_bias, None


class FnBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                dims = _dims(x)
                mean = x.mean(dim=dims)
                var = x.var(dim=dims, unbiased=True)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.to(self.running_var.dtype), self.momentum)
            return BatchNormFunction.apply(x, self.weight, self.bias, self.eps)
        shape = [1, -1] + [1] * (x.dim() - 2)
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(shape) + shift.reshape(shape)
