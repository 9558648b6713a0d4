"""A user subclass of torch.nn.BatchNorm1d that computes batch statistics itself (to log
them) and follows PyTorch's running-statistics convention.

BUG (planted): the batch mean is detached ("statistics need no gradient"), so autograd's
backward misses the path through the mean.
"""

import torch
from torch import nn


class LoggedBatchNorm1d(nn.BatchNorm1d):
    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            mean = x.mean(dim=dims).detach()
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)
            n = x.numel() // x.size(1)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * var.detach() * n / (n - 1)
                )
                self.num_batches_tracked += 1
            self.last_stats = (mean, var.detach())
        else:
            mean, var = self.running_mean, self.running_var
        xhat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return xhat * self.weight.view(shape) + self.bias.view(shape)
