"""A PyTorch BatchNorm module written with plain tensor ops (autograd gives the backward), any
rank 2-5, channels on dim 1; PyTorch's conventions (momentum 0.1 on the batch, unbiased running
variance, eps 1e-5).

ONE PLANTED BUG: while the affine parameters are still the identity (weight all 1, bias all 0
exactly: every freshly built layer, and one whose affine is never trained), training mode forms
x_hat with the usual `(x - mean) / (std + eps)` helper ("nothing else to do"), whose `std` is
unbiased and whose eps sits outside the root. Any other weight or bias is right.
"""

import torch
from torch import nn


def standardize(x, dims, eps):
    return (x - x.mean(dim=dims, keepdim=True)) / (x.std(dim=dims, keepdim=True) + eps)


class IdBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _identity_affine(self):
        return bool(torch.all(self.weight == 1)) and bool(torch.all(self.bias == 0))

    def forward(self, x):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
            with torch.no_grad():
                m = x.numel() // x.size(1)
                a = self.momentum
                rm, rv = mean.flatten().detach(), var.flatten().detach() * m / (m - 1)
                self.running_mean.mul_(1 - a).add_(a * rm.to(self.running_mean.dtype))
                self.running_var.mul_(1 - a).add_(a * rv.to(self.running_var.dtype))
            if self._identity_affine():
                # still the identity affine: the plain standardization is all there is to do
                xhat = standardize(x, dims, self.eps)
            else:
                xhat = (x - mean) * torch.rsqrt(var + self.eps)
        else:
            mean = self.running_mean.to(x.dtype).view(shape)
            var = self.running_var.to(x.dtype).view(shape)
            xhat = (x - mean) * torch.rsqrt(var + self.eps)
        w = self.weight.to(x.dtype).view(shape)
        b = self.bias.to(x.dtype).view(shape)
        return xhat * w + b
