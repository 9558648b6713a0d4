"""Hand-written torch LayerNorm over the last two axes (autograd backward), like nn.LayerNorm
with a 2-element normalized_shape."""

import torch
from torch import nn


class TwoAxisLayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x):
        mean = x.mean(dim=(-2, -1), keepdim=True)
        var = (x - mean).square().mean(dim=(-2, -1), keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
