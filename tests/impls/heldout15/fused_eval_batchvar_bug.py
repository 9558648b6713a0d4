"""Hand-written torch BN whose eval mode runs the fused form (one multiply-add per value),
as in inference-optimisation code that folds BN before export: in eval, scale and shift come
from `_fuse()`. Training normalizes with the batch (biased variance) and keeps torch-convention
running statistics (momentum 0.1 on the batch, unbiased running variance). train()/eval().

PLANTED MISTAKE: `_fuse()` builds the scale from `last_batch_var` (a buffer the training
step keeps for logging, the last batch's biased variance) instead of `running_var`; the shift
uses `running_mean` correctly. Training, backward and running statistics are right; the eval
output is wrong whenever the last batch's variance differs from the running variance.
"""

import torch
from torch import nn


class FusedEvalBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("last_batch_var", torch.ones(num_features))

    def _fuse(self):
        scale = self.weight * torch.rsqrt(self.last_batch_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return scale, shift

    def forward(self, x):
        shp = (1, -1) + (1,) * (x.dim() - 2)
        if not self.training:
            scale, shift = self._fuse()
            return torch.addcmul(shift.view(shp), x, scale.view(shp))
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)
        n = x.numel() // x.size(1)
        with torch.no_grad():
            self.last_batch_var.copy_(var)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (n / (n - 1)), self.momentum)
        y = (x - mean.view(shp)) / torch.sqrt(var.view(shp) + self.eps)
        return y * self.weight.view(shp) + self.bias.view(shp)
