"""A subclass of torch.nn.BatchNorm2d that overrides forward with its own arithmetic."""

import torch
from torch import nn


class MyBatchNorm2d(nn.BatchNorm2d):
    def forward(self, input):
        self._check_input_dim(input)
        if self.training:
            var, mean = torch.var_mean(input, dim=(0, 2, 3), correction=0)
            n = input.numel() // input.size(1)
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    f = 1.0 / float(self.num_batches_tracked)
                else:
                    f = self.momentum
                self.running_mean.mul_(1 - f).add_(mean, alpha=f)
                self.running_var.mul_(1 - f).add_(var * n / (n - 1), alpha=f)
        else:
            mean, var = self.running_mean, self.running_var
        y = (input - mean[None, :, None, None]) / (var[None, :, None, None] + self.eps).sqrt()
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y
