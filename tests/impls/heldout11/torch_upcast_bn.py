"""BatchNorm2d subclass that does its arithmetic in float64 by hand (autograd) and casts
the result back to the input dtype; PyTorch running-statistics convention."""

import torch
from torch import nn


class UpcastBN2d(nn.BatchNorm2d):
    def forward(self, x):
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xd = x.double()
        if self.training:
            mean = xd.mean(dims)
            var = xd.var(dims, unbiased=False)
            n = xd.numel() // xd.shape[1]
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean.dtype))
                unb = var * n / (n - 1)
                self.running_var.mul_(1 - m).add_(m * unb.to(self.running_var.dtype))
                self.num_batches_tracked += 1
        else:
            mean = self.running_mean.double()
            var = self.running_var.double()
        y = (xd - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        y = y * self.weight.double().view(shape) + self.bias.double().view(shape)
        return y.to(x.dtype)
