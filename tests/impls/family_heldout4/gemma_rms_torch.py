"""Gemma-style RMSNorm: the weight is stored as an offset from 1 (initialised to zeros) and
applied as (1 + weight); half-precision inputs are upcast to float32 for the statistics."""

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
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        out = self._norm(work) * (1.0 + self.weight.to(work.dtype))
        return out.to(x.dtype)
