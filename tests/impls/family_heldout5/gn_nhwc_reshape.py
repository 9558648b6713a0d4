"""GroupNorm for channels-last activations (N, ..., C), ported from an NCHW UNet block."""

import torch
from torch import nn


class GroupNormNHWC(nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        n = x.shape[0]
        grouped = x.reshape(n, self.num_groups, -1)
        mean = grouped.mean(dim=-1, keepdim=True)
        var = grouped.var(dim=-1, unbiased=False, keepdim=True)
        normed = ((grouped - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)
        return normed * self.weight + self.bias
