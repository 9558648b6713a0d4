"""Llama-style RMSNorm with a planted bug: eps is added after the square root."""

import torch
from torch import nn


class LlamaStyleRMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(dim))

    def _norm(self, x):
        rms = x.pow(2).mean(dim=-1, keepdim=True).sqrt()
        return x / (rms + self.eps)  # BUG: should be sqrt(mean(x^2) + eps)

    def forward(self, x):
        return self._norm(x) * self.gain
