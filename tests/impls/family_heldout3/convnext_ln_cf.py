"""ConvNeXt-style LayerNorm that normalizes the channel axis of (N, C, ...) input
("channels_first"), with a channels_last fallback through F.layer_norm."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.Module):
    def __init__(self, num_channels, eps=1e-6, data_format="channels_first"):
        super().__init__()
        if data_format not in ("channels_first", "channels_last"):
            raise ValueError(f"unknown data_format {data_format!r}")
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps
        self.data_format = data_format
        self.num_channels = num_channels

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, (self.num_channels,), self.weight, self.bias, self.eps)
        # statistics over dim 1 only: every pixel is normalized across its channels
        centre = x.mean(dim=1, keepdim=True)
        dev = x - centre
        spread = dev.square().mean(dim=1, keepdim=True)
        normed = dev * torch.rsqrt(spread + self.eps)
        view = (1, self.num_channels) + (1,) * (x.dim() - 2)
        return normed * self.weight.view(view) + self.bias.view(view)
