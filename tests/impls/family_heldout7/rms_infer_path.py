"""RMSNorm module (PyTorch) with an inference fast path taken in eval mode under no_grad."""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        if not self.training and not torch.is_grad_enabled():
            return self._norm(x)
        return self._norm(x) * self.weight
