"""A torch.nn.BatchNorm2d subclass with a hand-fused inference path (scale/shift folded
once, as one would before merging into a conv).

BUG (planted): the folded scale forgets eps: scale = weight / sqrt(running_var).
Training goes through the parent unchanged.
"""

import torch
from torch import nn


class FoldedBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x):
        if self.training:
            return super().forward(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = self.weight / torch.sqrt(self.running_var)
        shift = self.bias - self.running_mean * scale
        return x * scale.view(shape) + shift.view(shape)
