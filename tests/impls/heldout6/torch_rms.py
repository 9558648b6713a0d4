"""Llama-style RMSNorm (scale only, parameter named `g`), autograd backward."""

import torch
from torch import nn


class ScaleOnlyRMS(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.g
