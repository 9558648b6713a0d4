"""GroupNorm with a single group: a LayerNorm over (C, H, W) with per-channel affine, as
MetaFormer-style backbones use it in place of LayerNorm for (B, C, H, W) tensors."""

from torch import nn


class GroupNorm1(nn.GroupNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(1, num_channels, **kwargs)
