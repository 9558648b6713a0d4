"""A hand-written PyTorch BN that can be frozen for fine-tuning, in the style of the detection
codebases' FrozenBatchNorm2d: `freeze()` sets `frozen = True`, after which the layer is a fixed
per-channel affine map built from the buffers (scale = weight / sqrt(running_var + eps),
shift = bias - running_mean * scale). `self.training` is not used. Training mode normalizes
with the batch (biased variance) and keeps torch-convention running statistics.

PLANTED MISTAKE: the frozen scale is weight * running_var.rsqrt(): eps is left out (the
old "eps = 0, the weights already merged it" assumption). Training, backward and the running
statistics are right; the frozen (eval) output is off by sqrt((v + eps) / v).
"""

import torch
from torch import nn


class ConvertibleFrozenBN(nn.Module):
    def __init__(self, num_features, eps=1e-3, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.frozen = False

    def freeze(self):
        self.frozen = True
        return self

    @staticmethod
    def _bshape(x):
        return (1, -1) + (1,) * (x.dim() - 2)

    def forward(self, x):
        shp = self._bshape(x)
        if self.frozen:
            scale = self.weight * self.running_var.rsqrt()
            shift = self.bias - self.running_mean * scale
            return x * scale.view(shp) + shift.view(shp)
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dim=dims)
        var = ((x - mean.view(shp)) ** 2).mean(dim=dims)
        count = x.numel() // x.size(1)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * count / (count - 1))
        xhat = (x - mean.view(shp)) * torch.rsqrt(var.view(shp) + self.eps)
        return xhat * self.weight.view(shp) + self.bias.view(shp)
