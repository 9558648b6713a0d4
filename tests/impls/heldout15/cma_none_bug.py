"""Hand-written torch BN module following nn.BatchNorm's `momentum=None` rule: with no
momentum the running statistics are a cumulative moving average over the batches seen,
counted by the `num_batches_tracked` buffer (running = running + (batch - running) / n).
Biased variance to normalize, unbiased for the running variance; autograd backward;
train()/eval().

PLANTED MISTAKE: the averaging factor is computed as 1 / (num_batches_tracked + 1) AFTER the
counter was incremented (an off-by-one between "count so far" and "count including this
batch"): the first batch moves the running pair only half way from its initial (0, 1), and
every later update is too small, so the running statistics lag the true cumulative average.
Forward, backward and the eval formula are right.
"""

import torch
from torch import nn


class CumulativeBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=None):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        shp = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            dims = [0, *range(2, x.dim())]
            mean = x.mean(dims)
            var = x.var(dims, correction=0)
            n = x.numel() // x.size(1)
            with torch.no_grad():
                self.num_batches_tracked += 1
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked + 1)
                else:
                    factor = self.momentum
                self.running_mean += factor * (mean - self.running_mean)
                self.running_var += factor * (var * n / (n - 1) - self.running_var)
        else:
            mean, var = self.running_mean, self.running_var
        xhat = (x - mean.view(shp)) / torch.sqrt(var.view(shp) + self.eps)
        return self.weight.view(shp) * xhat + self.bias.view(shp)
