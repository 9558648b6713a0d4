"""Hand-written torch.nn.Module BN using torch.var_mean, with its running statistics in a plain
Python dict `self.stats = {"mean": ..., "var": ...}` (not buffers, not parameters), replaced
each training step. PyTorch convention (momentum 0.1, unbiased running variance). Backward by
autograd. Correct.
"""

import torch
from torch import nn


class DictStatsBN(nn.Module):
    def __init__(self, c, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))
        self.stats = {
            "mean": torch.zeros(c, dtype=torch.float64),
            "var": torch.ones(c, dtype=torch.float64),
        }

    def forward(self, x):
        red = [d for d in range(x.dim()) if d != 1]
        bshape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        if self.training:
            var, mean = torch.var_mean(x, dim=red, correction=0)
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                m = self.momentum
                self.stats = {
                    "mean": (1 - m) * self.stats["mean"] + m * mean.double(),
                    "var": (1 - m) * self.stats["var"] + m * var.double() * (n / (n - 1)),
                }
        else:
            mean = self.stats["mean"].to(x.dtype)
            var = self.stats["var"].to(x.dtype)
        y = (x - mean.reshape(bshape)) * torch.rsqrt(var.reshape(bshape) + self.eps)
        return y * self.gamma.to(x.dtype).reshape(bshape) + self.beta.to(x.dtype).reshape(bshape)
