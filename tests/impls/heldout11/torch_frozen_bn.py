"""A "frozen" BatchNorm2d, as used when fine-tuning detectors: always normalizes with the
running statistics, whatever .train()/.eval() says, and never updates them.
"""

import torch.nn.functional as F
from torch import nn


class FrozenBN2d(nn.BatchNorm2d):
    def forward(self, x):
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=False, momentum=0.0, eps=self.eps,
        )
