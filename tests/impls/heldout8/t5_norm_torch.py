"""T5-style "LayerNorm" that is really an RMSNorm (no mean, no bias); the scale is called g."""

import torch
from torch import nn


class T5LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.g = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x):
        ms = torch.mean(x * x, dim=-1, keepdim=True)
        return self.g * (x / torch.sqrt(ms + self.eps))
