"""BatchNorm as an autograd.Function with a hand-written backward, wrapped in a Module."""

import torch
from torch import nn


class _BN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mu = x.mean(dims, keepdim=True)
        var = x.var(dims, unbiased=False, keepdim=True)
        std = torch.sqrt(var + eps)
        x_hat = (x - mu) / std
        ctx.save_for_backward(x_hat, std, gamma)
        return gamma.view(shape) * x_hat + beta.view(shape)

    @staticmethod
    def backward(ctx, dy):
        x_hat, std, gamma = ctx.saved_tensors
        dims = [0, *range(2, dy.dim())]
        shape = [1, -1] + [1] * (dy.dim() - 2)
        dgamma = (dy * x_hat).sum(dims)
        dbeta = dy.sum(dims)
        dx_hat = dy * gamma.view(shape)
        dx = (dx_hat - dx_hat.mean(dims, keepdim=True)) / std
        return dx, dgamma, dbeta, None


class BatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        if not self.training:
            x_hat = (x - self.running_mean.view(shape)) / torch.sqrt(
                self.running_var.view(shape) + self.eps
            )
            return self.gamma.view(shape) * x_hat + self.beta.view(shape)
        with torch.no_grad():
            dims = [0, *range(2, x.dim())]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(dims))
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dims))
        return _BN.apply(x, self.gamma, self.beta, self.eps)
