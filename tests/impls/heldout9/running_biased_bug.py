"""A from-scratch BatchNorm module in the shape of torch.nn.BatchNorm1d/2d (autograd backward)."""

import torch
from torch import nn


class ScratchBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("moving_mean", torch.zeros(num_features))
        self.register_buffer("moving_var", torch.ones(num_features))

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dims)
            var = ((x - mean.view(shape)) ** 2).mean(dims)
            with torch.no_grad():
                self.moving_mean.lerp_(mean, self.momentum)
                self.moving_var.lerp_(var, self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_var
        xhat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.gamma.view(shape) * xhat + self.beta.view(shape)
