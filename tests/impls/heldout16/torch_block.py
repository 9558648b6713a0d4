"""A small block holding two BNs with different settings; only model.bn1 is the target."""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(width, eps=1e-3, momentum=0.3)
        self.fc = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x):
        h = torch.relu(self.fc(self.bn1(x)))
        return self.bn2(h) + x


model = Block(16)
