"""A PyTorch module that writes the normalization for one channel and maps it over the
channels with torch.func.vmap (in_dims=1 for x, 0 for the per-channel weight and bias);
autograd gives the backward. VmapBN(C): PyTorch convention (momentum 0.1, unbiased running
variance in buffers), eps 1e-5, self.training switch. Correct.
"""

import torch
from torch import nn
from torch.func import vmap


def _one_channel(xc, w, b, eps):
    # xc: every value of one channel (any shape); w, b: scalars
    mean = xc.mean()
    d = xc - mean
    var = (d * d).mean()
    return d * torch.rsqrt(var + eps) * w + b, mean, var


class VmapBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("running_mean", torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(num_features, dtype=torch.float64))

    def forward(self, x):
        w, b = self.weight.to(x.dtype), self.bias.to(x.dtype)
        if self.training:
            eps = self.eps
            y, mean, var = vmap(
                lambda xc, wc, bc: _one_channel(xc, wc, bc, eps),
                in_dims=(1, 0, 0),
                out_dims=(1, 0, 0),
            )(x, w, b)
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                k = self.momentum
                self.running_mean.copy_((1 - k) * self.running_mean + k * mean.double())
                self.running_var.copy_((1 - k) * self.running_var + k * var.double() * n / (n - 1))
            return y
        shape = (1, -1) + (1,) * (x.dim() - 2)
        inv = torch.rsqrt(self.running_var + self.eps).to(x.dtype)
        return (x - self.running_mean.to(x.dtype).view(shape)) * (w * inv).view(shape) + b.view(
            shape
        )
