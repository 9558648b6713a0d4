"""Hand-written InstanceNorm2d module (affine, track_running_stats) in PyTorch, autograd
for the gradients, running statistics kept as buffers and used in eval mode."""

import torch
from torch import nn


class InstanceNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training or not self.track_running_stats:
            mean = x.mean(dim=dims, keepdim=True)
            var = x.var(dim=dims, keepdim=True, unbiased=False)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    bm = mean.flatten(1).mean(0)
                    bv = var.flatten(1).mean(0)
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * bm)
                    self.running_var.mul_(1 - self.momentum).add_(self.momentum * bv)
        else:
            mean = self.running_mean.view(shape)
            var = self.running_var.view(shape)
        xhat = (x - mean) / torch.sqrt(var + self.eps)
        return xhat * self.weight.view(shape) + self.bias.view(shape)
