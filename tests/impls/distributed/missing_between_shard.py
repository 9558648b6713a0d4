"""A SyncBN in the style of torch's SyncBatchNorm (a custom autograd Function, all_gather of
per-rank statistics, all-reduced Σdy and Σdy·x_hat in backward) whose only flaw: the variance
merges the local variances weighted by count, without the spread of the local means."""

# ruff: noqa: RUF005 (kept as public SyncBN code writes it)

import torch
import torch.distributed as dist
from torch import nn


class _SyncBNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        count = torch.full((1,), x.numel() // c, dtype=x.dtype)
        local_var, local_mean = torch.var_mean(x, dim=dims, unbiased=False)
        stats = torch.cat([count, local_mean, local_var])
        gathered = [torch.empty_like(stats) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, stats)
        table = torch.stack(gathered)
        counts, means, variances = table[:, :1], table[:, 1 : 1 + c], table[:, 1 + c :]
        n = counts.sum()
        mean = (counts * means).sum(0) / n
        var = (counts * variances).sum(0) / n
        invstd = 1.0 / torch.sqrt(var + eps)
        x_hat = (x - mean.view(shape)) * invstd.view(shape)
        ctx.save_for_backward(x_hat, weight, invstd)
        ctx.n = n.item()
        ctx.mark_non_differentiable(mean, var)
        return x_hat * weight.view(shape) + bias.view(shape), mean, var, n

    @staticmethod
    def backward(ctx, dy, _m, _v, _n):
        x_hat, weight, invstd = ctx.saved_tensors
        dims = [0] + list(range(2, dy.dim()))
        shape = (1, -1) + (1,) * (dy.dim() - 2)
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * x_hat).sum(dims)
        combined = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(combined)
        g_dy, g_dy_xhat = combined.chunk(2)
        dx = (weight * invstd).view(shape) * (
            dy - g_dy.view(shape) / ctx.n - x_hat * g_dy_xhat.view(shape) / ctx.n
        )
        return dx, sum_dy_xhat, sum_dy, None


class SyncBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, process_group=None):
        super().__init__()
        self.eps, self.momentum, self.process_group = eps, momentum, process_group
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if not self.training:
            x_hat = (x - self.running_mean.view(shape)) / torch.sqrt(
                self.running_var.view(shape) + self.eps
            )
            return x_hat * self.weight.view(shape) + self.bias.view(shape)
        y, mean, var, n = _SyncBNFunction.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        return y
