"""PyTorch BatchNorm written as a custom `torch.autograd.Function` (forward and backward by
hand) inside an `nn.Module` with `weight`/`bias` parameters and `running_mean`/`running_var`/
`num_batches_tracked` buffers; torch convention (momentum 0.1, unbiased running variance),
eps 1e-5, any rank with channels on dim 1. The backward follows the mode of the forward:
batch-statistics gradient in training, statistics treated as constants in eval (fine-tuning
with frozen BN). Correct.
"""

import torch
from torch import nn


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        dims = [0, *list(range(2, x.dim()))]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if training:
            m = x.numel() // x.shape[1]
            mean = x.mean(dim=dims)
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(
                (var * (m / (m - 1))).to(running_var.dtype), alpha=momentum
            )
        else:
            mean = running_mean.to(x.dtype)
            var = running_var.to(x.dtype)
        rstd = torch.rsqrt(var + eps)
        xhat = (x - mean.view(shape)) * rstd.view(shape)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.training = training
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, gy):
        xhat, rstd, weight = ctx.saved_tensors
        dims = [0, *list(range(2, gy.dim()))]
        shape = [1, -1] + [1] * (gy.dim() - 2)
        dbias = gy.sum(dim=dims)
        dweight = (gy * xhat).sum(dim=dims)
        k = (weight * rstd).view(shape)
        if ctx.training:
            m = gy.numel() // gy.shape[1]
            dx = k * (gy - (dbias.view(shape) + xhat * dweight.view(shape)) / m)
        else:
            dx = k * gy
        return dx, dweight, dbias, None, None, None, None, None


class FnBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return _BNFunction.apply(
            x,
            self.weight.to(x.dtype),
            self.bias.to(x.dtype),
            self.running_mean,
            self.running_var,
            self.training,
            self.momentum,
            self.eps,
        )
