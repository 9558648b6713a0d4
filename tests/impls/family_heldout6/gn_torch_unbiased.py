"""GroupNorm as a hand-written PyTorch module, the "functional group_norm" snippet style:
view (N, C, *) as (N, G, -1), take mean and variance over the last axis, normalize, view
back and apply a per-channel affine. Gradients by autograd.

PLANTED BUG (one): ``Tensor.var`` is unbiased by default (divides by m - 1); GroupNorm uses
the biased variance (divide by m).
"""

import torch
from torch import nn


class GroupNorm(nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        n, c = x.shape[:2]
        xg = x.reshape(n, self.num_groups, -1)
        mean = xg.mean(-1, keepdim=True)
        var = xg.var(-1, keepdim=True)
        xg = (xg - mean) / (var + self.eps).sqrt()
        x = xg.reshape(x.shape)
        shape = (1, c) + (1,) * (x.dim() - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)
