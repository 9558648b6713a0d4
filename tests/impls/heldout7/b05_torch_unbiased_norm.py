"""A from-scratch torch BatchNorm (d2l-style function plus module) driven by autograd.

BUG (planted): the batch variance used to normalise is torch's default unbiased
x.var(dim) (divides by m - 1). The running variance (unbiased) is right for PyTorch.
"""

import torch
from torch import nn


def batch_norm(x, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    dims = [0] + list(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    if not training:
        x_hat = (x - moving_mean.view(shape)) / torch.sqrt(moving_var.view(shape) + eps)
    else:
        mean = x.mean(dim=dims)
        var = x.var(dim=dims)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean.detach()
        moving_var = (1.0 - momentum) * moving_var + momentum * var.detach()
    return gamma.view(shape) * x_hat + beta.view(shape), moving_mean, moving_var


class BatchNorm(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("moving_mean", torch.zeros(num_features))
        self.register_buffer("moving_var", torch.ones(num_features))

    def forward(self, x):
        y, self.moving_mean, self.moving_var = batch_norm(
            x, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=1e-5, momentum=0.1, training=self.training,
        )
        return y
