"""Two from-scratch PyTorch BNs that differ only in how eval mode is chosen (torch convention:
momentum 0.1, unbiased running variance, eps 1e-5):

- ``ByGradMode`` (wrong): uses its running statistics when ``torch.is_grad_enabled()`` is False,
  as some tutorial code does: after ``model.eval()`` with gradients recorded (input gradients,
  adversarial examples, test-time adaptation) it normalizes with the batch statistics, and
  updates the running ones;
- ``ByTrainingFlag`` (right): uses them when ``self.training`` is False.
"""

import torch
from torch import nn


class _Base(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.momentum = 0.1
        self.eps = 1e-5

    def use_batch_statistics(self):
        raise NotImplementedError

    def forward(self, x):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.use_batch_statistics():
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            m = x.numel() // x.shape[1]
            with torch.no_grad():
                a = self.momentum
                self.running_mean.mul_(1 - a).add_(a * mean.detach())
                self.running_var.mul_(1 - a).add_(a * var.detach() * m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.weight.view(shape) * x_hat + self.bias.view(shape)


class ByGradMode(_Base):
    def use_batch_statistics(self):
        return torch.is_grad_enabled()


class ByTrainingFlag(_Base):
    def use_batch_statistics(self):
        return self.training


class TensorLayerByGradMode:
    """The same mistake in a layer of plain torch tensors with no backward (trained by
    autograd), 2-D only: a ``training`` attribute it never reads in its forward."""

    def __init__(self, dim):
        self.eps = 1e-5
        self.momentum = 0.1
        self.training = True
        self.gamma = torch.ones(dim)
        self.beta = torch.zeros(dim)
        self.running_mean = torch.zeros(dim)
        self.running_var = torch.ones(dim)

    def __call__(self, x):
        if torch.is_grad_enabled():
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            m = x.shape[0]
            with torch.no_grad():
                a = self.momentum
                self.running_mean = (1 - a) * self.running_mean + a * mean
                self.running_var = (1 - a) * self.running_var + a * var * m / (m - 1)
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta
