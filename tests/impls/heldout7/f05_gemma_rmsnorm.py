"""Gemma-style RMSNorm: zero-initialised weight applied as (1 + weight), computed in
float32 for low-precision input and cast back. Correct.
"""

import torch
from torch import nn


class GemmaRMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        h = x if x.dtype == torch.float64 else x.float()
        out = self._norm(h) * (1.0 + self.weight.to(h.dtype))
        return out.type_as(x)
