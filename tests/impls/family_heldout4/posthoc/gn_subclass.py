"""Post-hoc (written after row 13 ran, not blind): a torch.nn.GroupNorm subclass whose
G = gcd(32, C), correct (a false FAIL today: one fitted G is applied to every C)."""

import math

from torch import nn


class UNetGroupNorm(nn.GroupNorm):
    def __init__(self, num_channels):
        super().__init__(math.gcd(32, num_channels), num_channels, eps=1e-6)
