"""Diffusion-UNet GroupNorm that always normalises in full precision and casts back, so that
fp16 training is stable (the UNet builds it as GroupNorm32(32, C))."""

import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm32(nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5):
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        out = F.group_norm(
            x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps
        )
        return out.type(x.dtype)
