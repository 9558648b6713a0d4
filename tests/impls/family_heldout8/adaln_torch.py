"""DiT-style adaptive LayerNorm: a parameter-free LayerNorm followed by a learned modulation.

The modulation starts at the identity (scale = shift = 0), so the block starts as a plain LN.
"""

import torch
from torch import nn


class ModulatedLayerNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=eps)
        self.scale = nn.Parameter(torch.zeros(hidden_size))
        self.shift = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x):
        return self.norm(x) * (1 + self.scale) + self.shift
