"""LayerNorm over the channels of an NCHW feature map, done by moving C last and using the
library LayerNorm (the detection/ConvNeXt-backbone way)."""

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    def __init__(self, num_channels, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        x = torch.movedim(x, 1, -1)
        x = F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        return torch.movedim(x, -1, 1)
