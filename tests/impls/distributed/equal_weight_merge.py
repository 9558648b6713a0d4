"""A SyncBN that averages the ranks' statistics with equal weights: right for equal shards,
wrong for unequal ones (the style of detectron2's NaiveSyncBatchNorm with stats_mode="").
Otherwise correct: two-pass variance, a differentiable all-reduce, unbiased running var."""

# ruff: noqa: RUF005 (kept as public SyncBN code writes it)

import torch
import torch.distributed as dist
from torch import nn


class _AllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        dims = [0] + list(range(2, x.dim()))
        if not self.training:
            x_hat = (x - self.running_mean.view(shape)) / torch.sqrt(
                self.running_var.view(shape) + self.eps
            )
            return x_hat * self.weight.view(shape) + self.bias.view(shape)
        world = dist.get_world_size()
        mean = _AllReduce.apply(x.mean(dims)) / world
        var = _AllReduce.apply(((x - mean.view(shape)) ** 2).mean(dims)) / world
        count = torch.tensor(float(x.numel() // x.shape[1]))
        dist.all_reduce(count)
        with torch.no_grad():
            n = count.item()
            self.running_mean += self.momentum * (mean - self.running_mean)
            self.running_var += self.momentum * (var * n / (n - 1) - self.running_var)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)
