"""Hand-written torch.nn.Module BN (autograd backward) that keeps its running statistics as plain
tensor attributes (not registered buffers), updated under torch.no_grad() with PyTorch's
convention (momentum 0.1, unbiased running variance). The unbiased correction n/(n - 1) takes
n = x.shape[0], the batch size, instead of the number of values per channel (N*H*W): right on
(N, C) input, wrong on (N, C, H, W) (infinite for a batch of one).
"""

import torch
from torch import nn


class PlainStatsBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

    def forward(self, x):
        dims = [0, *list(range(2, x.dim()))]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dim=dims)
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)
            with torch.no_grad():
                n = x.shape[0]
                rm = self.running_mean.to(x.dtype)
                rv = self.running_var.to(x.dtype)
                self.running_mean = (1 - self.momentum) * rm + self.momentum * mean.detach()
                self.running_var = (1 - self.momentum) * rv + self.momentum * var.detach() * n / (
                    n - 1
                )
        else:
            mean = self.running_mean.to(x.dtype)
            var = self.running_var.to(x.dtype)
        xhat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return xhat * self.weight.to(x.dtype).view(shape) + self.bias.to(x.dtype).view(shape)
