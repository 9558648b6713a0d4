"""T5's "LayerNorm": scale only, no bias, and no mean subtraction (root mean square)."""

import torch
from torch import nn


class T5LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x):
        mean_sq = (x * x).mean(-1, keepdim=True)
        return self.weight * (x / torch.sqrt(mean_sq + self.eps))
