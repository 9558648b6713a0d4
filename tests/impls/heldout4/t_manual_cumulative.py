"""A hand-written BN whose running statistics are a cumulative average (momentum=None)."""

import torch
import torch.nn as nn


class CumulativeBN(nn.Module):
    """Like torch's BatchNorm with momentum=None: running stats are the plain average."""

    def __init__(self, num_features, eps=1e-5, momentum=None, affine=True):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def _factor(self):
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / self.num_batches_tracked.item()
        return self.momentum

    def forward(self, input):
        view = (1, -1) + (1,) * (input.ndim - 2)
        red = (0, *range(2, input.ndim))
        if self.training:
            var, mean = torch.var_mean(input, dim=red, unbiased=False)
            count = input.numel() / input.shape[1]
            with torch.no_grad():
                f = self._factor()
                self.running_mean.copy_((1 - f) * self.running_mean + f * mean)
                self.running_var.copy_((1 - f) * self.running_var + f * var * count / (count - 1))
        else:
            mean = self.running_mean
            var = self.running_var
        out = (input - mean.view(view)) * torch.rsqrt(var.view(view) + self.eps)
        if self.weight is not None:
            out = out * self.weight.view(view) + self.bias.view(view)
        return out
