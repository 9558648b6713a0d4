"""A Gemma-3-ish RMSNorm module; the zero-centred gain has an unusual name."""

import torch
from torch import nn


class ZeroCenteredRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.delta_gain = nn.Parameter(torch.zeros(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        in_dtype = hidden_states.dtype
        work = torch.promote_types(in_dtype, torch.float32)
        h = hidden_states.to(work)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.variance_epsilon)
        h = h * (1.0 + self.delta_gain.to(work))
        return h.to(in_dtype)
