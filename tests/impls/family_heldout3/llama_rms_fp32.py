"""Llama-style RMSNorm: the statistics are taken in float32 "for stability", the result cast
back to the input's dtype."""

import torch
from torch import nn


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden):
        orig = hidden.dtype
        h32 = hidden.to(torch.float32)
        ms = h32.pow(2).mean(dim=-1, keepdim=True)
        h32 = h32 * torch.rsqrt(ms + self.variance_epsilon)
        return self.weight * h32.to(orig)
