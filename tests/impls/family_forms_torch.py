"""A torch LayerNorm over the last axis whose ``scale`` parameter (zeros) is used as 1 + scale,
with a bias, gradients by autograd: correct (``tests/impls/family_forms.py`` has the others)."""

import torch
from torch import nn


class OnePlusScaleLayerNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * (1 + self.scale) + self.bias
