"""The GroupNorm factory of a diffusion U-Net: up to 32 groups, as many as divide the
channel count (so 17 channels get 1 group and 64 get 32), eps 1e-6."""

import math

from torch import nn


def make_groupnorm(num_channels):
    return nn.GroupNorm(math.gcd(32, num_channels), num_channels, eps=1e-6)
