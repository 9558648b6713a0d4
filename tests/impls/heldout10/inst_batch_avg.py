"""InstanceNorm as a torch module for (N, C, ...) input."""

import torch
from torch import nn


class InstanceNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        if x.dim() < 3:
            raise ValueError(f"expected 3D or higher input (N, C, ...), got {x.dim()}D")
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=False)
        shape = [1, -1] + [1] * (x.dim() - 2)
        xhat = (x - mean) / torch.sqrt(var + self.eps)
        return xhat * self.weight.view(shape) + self.bias.view(shape)
