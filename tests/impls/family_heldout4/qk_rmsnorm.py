"""QK-norm: an RMSNorm over head_dim applied to queries and keys of shape (B, H, T, D)
before attention, weight per head_dim element, eps 1e-6. Statistics in at least float32
(half inputs upcast, float64 kept), result in the input dtype."""

import torch
from torch import nn


class QKNorm(nn.Module):
    def __init__(self, head_dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(head_dim))

    def forward(self, x):
        work = torch.promote_types(x.dtype, torch.float32)
        h = x.to(work)
        h = h * torch.rsqrt(h.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (h * self.weight.to(work)).to(x.dtype)
