"""Channels-last GroupNorm module with a planted bug: channels are grouped interleaved (c % G), not contiguously."""

import torch
from torch import nn


class GroupNormNHWC(nn.Module):
    def __init__(self, channels, groups=4, eps=1e-5):
        super().__init__()
        self.groups = groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        n, c = x.shape[0], x.shape[-1]
        xg = x.reshape(n, -1, c // self.groups, self.groups)  # BUG: should be (n, -1, groups, c // groups)
        mean = xg.mean(dim=(1, 2), keepdim=True)
        var = (xg - mean).pow(2).mean(dim=(1, 2), keepdim=True)
        xg = (xg - mean) / torch.sqrt(var + self.eps)
        return xg.reshape(x.shape) * self.weight + self.bias
