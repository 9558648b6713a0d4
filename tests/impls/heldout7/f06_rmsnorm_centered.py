"""A transformer-from-scratch RMSNorm.

BUG (planted): the input is centred before the root mean square is taken, so this is a
bias-free LayerNorm, not an RMSNorm.
"""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-8):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        x = x - x.mean(dim=-1, keepdim=True)
        rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.scale * (x / rms)
