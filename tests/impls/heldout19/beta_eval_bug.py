"""Hand-written PyTorch BN module (autograd through tensor ops), torch convention (momentum
0.1, unbiased running variance), eps 1e-5, channels on dim 1. Eval folds the statistics and
the affine step into one scale and shift per channel (as deployment code does), recomputed at
every eval call.

PLANTED MISTAKE: the folded shift is written `(bias - running_mean) * scale` instead of
`bias - running_mean * scale`, so beta gets multiplied by gamma/sqrt(running_var + eps). With
beta = 0 (its initial value) the eval output is exactly right; with beta != 0 it is off by
beta*(scale - 1). Training mode, backward and running statistics are right.
"""

import torch
import torch.nn as nn


class FoldBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        dims = (0, *tuple(range(2, x.dim())))
        if self.training:
            mu = x.mean(dims, keepdim=True)
            xc = x - mu
            var = (xc * xc).mean(dims, keepdim=True)
            n = x.numel() / x.shape[1]
            with torch.no_grad():
                k = self.momentum
                self.running_mean.mul_(1 - k).add_(k * mu.flatten().to(self.running_mean.dtype))
                self.running_var.mul_(1 - k).add_(
                    k * n / (n - 1) * var.flatten().to(self.running_var.dtype)
                )
            xhat = xc / torch.sqrt(var + self.eps)
            return xhat * self.weight.to(x.dtype).view(shape) + self.bias.to(x.dtype).view(shape)
        scale = self.weight.to(x.dtype) / torch.sqrt(self.running_var.to(x.dtype) + self.eps)
        shift = (self.bias.to(x.dtype) - self.running_mean.to(x.dtype)) * scale
        return x * scale.view(shape) + shift.view(shape)
