"""Hand-written torch.nn.Module BN (autograd backward) whose author treated the batch
statistics' standard deviation as a constant "to stabilise training":
`std = torch.sqrt(var + eps).detach()`. The forward is right; autograd then misses the path
through sigma^2_B, so dx lacks the -x_hat*mean(dy*x_hat) term. Buffers, PyTorch convention.
"""

import torch
from torch import nn


class DetachedStdBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        axes = [0, *list(range(2, x.dim()))]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(axes, keepdim=True)
            var = x.var(axes, unbiased=False, keepdim=True)
            std = torch.sqrt(var + self.eps).detach()
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(
                    mean.flatten().to(self.running_mean.dtype), alpha=self.momentum
                )
                self.running_var.mul_(1 - self.momentum).add_(
                    (var.flatten() * n / (n - 1)).to(self.running_var.dtype), alpha=self.momentum
                )
        else:
            mean = self.running_mean.to(x.dtype).view(shape)
            std = torch.sqrt(self.running_var.to(x.dtype).view(shape) + self.eps)
        return self.gamma.to(x.dtype).view(shape) * (x - mean) / std + self.beta.to(x.dtype).view(
            shape
        )
