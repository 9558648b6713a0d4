"""Post-hoc (written after row 13 ran, not blind): a factory returning nn.GroupNorm(4, C),
correct."""

from torch import nn


def make_groupnorm(num_channels):
    return nn.GroupNorm(4, num_channels, eps=1e-6)
