"""InstanceNorm2d written out in PyTorch (for export to a runtime without instance norm):
per-channel affine and running statistics kept the way torch.nn.InstanceNorm2d keeps them
with track_running_stats=True (unbiased per-instance variance averaged over the batch)."""

import torch
from torch import nn


class InstanceNorm2dScratch(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"expected 4D input (got {x.dim()}D input)")
        spatial = x.shape[2] * x.shape[3]
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            if spatial <= 1 and self.training:
                raise ValueError(
                    "Expected more than 1 spatial element when training, "
                    f"got input size {tuple(x.shape)}"
                )
            mean = x.mean(dim=(2, 3), keepdim=True)
            var = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    m = self.momentum
                    self.running_mean.mul_(1 - m).add_(m * mean.mean(dim=0).flatten())
                    unbiased = var * (spatial / (spatial - 1))
                    self.running_var.mul_(1 - m).add_(m * unbiased.mean(dim=0).flatten())
        else:
            mean = self.running_mean.view(1, -1, 1, 1)
            var = self.running_var.view(1, -1, 1, 1)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y
