"""From-scratch torch BN: register_buffer with unusual names, forward(x, training: bool).
Correct; PyTorch convention (momentum 0.1 on the batch, unbiased running variance)."""

import torch
from torch import nn


class MyBN(nn.Module):
    def __init__(self, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.g = nn.Parameter(torch.ones(channels))
        self.b = nn.Parameter(torch.zeros(channels))
        self.register_buffer("mu_ema", torch.zeros(channels))
        self.register_buffer("sigma2_ema", torch.ones(channels))

    def forward(self, x, training: bool = True):
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if training:
            mean = x.mean(dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dims, keepdim=True)
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                self.mu_ema.lerp_(mean.view(-1), self.momentum)
                self.sigma2_ema.lerp_(var.view(-1) * n / (n - 1), self.momentum)
        else:
            mean, var = self.mu_ema.view(shape), self.sigma2_ema.view(shape)
        xh = (x - mean) / torch.sqrt(var + self.eps)
        return xh * self.g.view(shape) + self.b.view(shape)
