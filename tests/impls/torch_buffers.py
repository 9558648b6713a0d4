"""A torch module whose running statistics are buffers under names no table holds (``avg``,
``spread``), updated in place by ``torch.nn.functional.batch_norm``: found by behaviour."""

import torch
from torch import nn
from torch.nn import functional as F


class OddBuffersBN(nn.Module):
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gain = nn.Parameter(torch.ones(channels))
        self.offset = nn.Parameter(torch.zeros(channels))
        self.register_buffer("avg", torch.zeros(channels))
        self.register_buffer("spread", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(
            x, self.avg, self.spread, self.gain, self.offset, self.training, self.momentum, self.eps
        )
