"""GroupNorm for channels-last activations (N, ..., C), as in a TF-ported PyTorch model that
keeps NHWC end to end. Statistics per sample over the spatial positions and C // G channels."""

import torch
from torch import nn


class GroupNormNHWC(nn.Module):
    def __init__(self, num_channels, num_groups=4, eps=1e-5):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(
                f"num_channels={num_channels} is not divisible by num_groups={num_groups}"
            )
        self.num_groups = num_groups
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        n, c = x.shape[0], x.shape[-1]
        g = self.num_groups
        xg = x.reshape(n, -1, g, c // g)
        mean = xg.mean(dim=(1, 3), keepdim=True)
        var = (xg - mean).pow(2).mean(dim=(1, 3), keepdim=True)
        xhat = ((xg - mean) * torch.rsqrt(var + self.eps)).reshape(x.shape)
        return xhat * self.weight + self.bias
