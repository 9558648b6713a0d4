"""A channels-last wrapper around BatchNorm2d. BUG: reshape instead of permute, so the
"channels" it normalizes are slices of the (H, W, C) memory, not the channels."""

from torch import nn


class NHWCNorm(nn.Module):
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum)

    def forward(self, x):  # x: (N, H, W, C)
        if x.dim() != 4:
            raise ValueError(f"NHWCNorm expected 4D input (N, H, W, C), got {x.dim()}D")
        n, h, w, c = x.shape
        y = self.bn(x.reshape(n, c, h, w))  # should be x.permute(0, 3, 1, 2)
        return y.reshape(n, h, w, c)
