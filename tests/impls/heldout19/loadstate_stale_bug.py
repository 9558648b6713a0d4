"""Hand-written PyTorch BN module (autograd through plain tensor ops), torch convention
(momentum 0.1, unbiased running variance), eps 1e-5, channels on dim 1. To make inference
cheap it keeps the inverse running std in a NON-persistent buffer `_inv_std`, refreshed after
every training update.

PLANTED MISTAKE: `_inv_std` is refreshed only by the training forward. Running statistics that
arrive any other way (load_state_dict from a checkpoint, assignment, `running_var.copy_(...)`,
`.fill_()`) leave it stale, and eval uses the stale value: eval output is computed with the new
running_mean but the OLD running variance. Trained and evaluated in one go it is right
(training, running statistics, eval, eval-state all agree with the truth).
"""

import torch
from torch import nn


class CheckpointBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.register_buffer(
            "_inv_std",
            torch.full((num_features,), (1.0 + eps) ** -0.5, dtype=torch.float64),
            persistent=False,
        )

    def forward(self, x):
        dims = [0, *list(range(2, x.dim()))]
        shape = [1, -1] + [1] * (x.dim() - 2)
        w = self.weight.to(x.dtype).view(shape)
        b = self.bias.to(x.dtype).view(shape)
        if self.training:
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(
                    (var.detach() * n / (n - 1)).to(self.running_var.dtype), self.momentum
                )
                self.num_batches_tracked += 1
                self._inv_std.copy_(torch.rsqrt(self.running_var + self.eps))
            return (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape) * w + b
        inv = self._inv_std.to(x.dtype).view(shape)
        return (x - self.running_mean.to(x.dtype).view(shape)) * inv * w + b
