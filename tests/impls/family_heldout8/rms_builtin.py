"""Channels-first RMSNorm for conv features built on torch's own nn.RMSNorm.

eps=None lets PyTorch pick torch.finfo(x.dtype).eps, so nothing here has to be tuned per dtype.
"""

from torch import nn


class ChannelRMSNorm(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.norm = nn.RMSNorm(num_channels, eps=None)

    def forward(self, x):
        # (N, C, *) -> (N, *, C) -> norm over C -> back
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)
