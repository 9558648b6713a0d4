"""Hand-written torch.nn.Module BN with registered buffers and PyTorch's convention. Its author
wanted batch statistics whenever they exist, so the branch is `if self.training or x.shape[0] > 1`:
in eval mode a batch of more than one sample is normalized with its own statistics (and updates
the running statistics); only a single sample uses the running ones.
"""

import torch
from torch import nn


class OpportunisticBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        use_batch = self.training or x.shape[0] > 1
        dims = tuple(d for d in range(x.dim()) if d != 1)
        view = (1, -1) + (1,) * (x.dim() - 2)
        if use_batch:
            mu = x.mean(dims)
            var = x.var(dims, unbiased=False)
            n = x.numel() / x.shape[1]
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(
                    self.momentum * mu.to(self.running_mean.dtype)
                )
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * var.to(self.running_var.dtype) * n / (n - 1)
                )
        else:
            mu = self.running_mean.to(x.dtype)
            var = self.running_var.to(x.dtype)
        xn = (x - mu.view(view)) / torch.sqrt(var.view(view) + self.eps)
        return torch.addcmul(
            self.bias.to(x.dtype).view(view), xn, self.weight.to(x.dtype).view(view)
        )
