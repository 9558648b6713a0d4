"""GPT-2 block LayerNorm whose bias can be switched off (PyTorch's own LayerNorm only gained
``bias=False`` late); the shift is simply absent when ``use_bias`` is false."""

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, n_embd, use_bias=False, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd)) if use_bias else None

    def forward(self, h):
        return F.layer_norm(h, (h.shape[-1],), self.weight, self.bias, self.eps)
