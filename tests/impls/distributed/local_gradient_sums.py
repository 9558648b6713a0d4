"""A SyncBN written with autograd and plain in-place dist.all_reduce on the sums: the forward
is right (count-weighted, two-pass around the global mean), but autograd cannot see the
all-reduce, so backward uses each rank's own sums (PyTorch warns, and passes the gradient
through as if the all-reduce were the identity)."""

# ruff: noqa: RUF005 (kept as public SyncBN code writes it)

import torch
import torch.distributed as dist
from torch import nn


class SyncBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, process_group=None):
        super().__init__()
        self.eps, self.momentum, self.group = eps, momentum, process_group
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
        n = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype)
        dist.all_reduce(n, group=self.group)
        total = x.sum(dims)
        dist.all_reduce(total, group=self.group)
        mean = total / n
        squares = ((x - mean.view(shape)) ** 2).sum(dims)
        dist.all_reduce(squares, group=self.group)
        var = squares / n
        with torch.no_grad():
            self.running_mean += self.momentum * (mean - self.running_mean)
            self.running_var += self.momentum * (var * n / (n - 1) - self.running_var)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)
