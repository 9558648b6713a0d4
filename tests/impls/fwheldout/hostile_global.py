"""Hostile to its host: changes torch's process-wide state (default dtype, thread count)."""

import torch
from torch import nn

# as some research code does at import time
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


class GlobalStateBN(nn.BatchNorm1d):
    """Correct BN. Built under the float64 default dtype (so its parameters and buffers are
    float64), it computes in float64 and returns the input's dtype; every forward resets the
    thread count and the default dtype again."""

    def forward(self, x):
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float64)
        if x.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.dim()}D input)")
        return super().forward(x.to(torch.float64)).to(x.dtype)
