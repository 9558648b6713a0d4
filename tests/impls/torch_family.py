"""Hand-written torch.nn.Module normalizations with no backward method (autograd): a
transformer-style LayerNorm with a weight and no bias, and a GroupNorm built as PyTorch's is,
``GroupNormByHand(num_groups, num_channels)``."""

import torch
from torch import nn


class LayerNormWeightOnly(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        mu = x.mean(dim=-1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=-1, keepdim=True)
        return (x - mu) * torch.rsqrt(var + self.eps) * self.weight


class GroupNormByHand(nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        self.groups, self.eps = num_groups, eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        n, c = x.shape[:2]
        g = x.reshape(n, self.groups, -1)
        mu = g.mean(dim=2, keepdim=True)
        var = (g - mu).pow(2).mean(dim=2, keepdim=True)
        xh = ((g - mu) / torch.sqrt(var + self.eps)).reshape(x.shape)
        view = (1, c) + (1,) * (x.ndim - 2)
        return xh * self.weight.reshape(view) + self.bias.reshape(view)
