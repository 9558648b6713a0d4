"""Hand-written torch.nn.Module BN whose running statistics are frozen nn.Parameters
(requires_grad=False) in an nn.ParameterDict, beside the trainable scale and shift, as some
exporters want every tensor to be a parameter. PyTorch convention (momentum 0.1, unbiased
running variance, num_batches_tracked as a plain int). Backward by autograd. Correct.
"""

import torch
from torch import nn


class ParamStatsBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.affine = nn.ParameterDict(
            {
                "scale": nn.Parameter(torch.ones(num_features)),
                "shift": nn.Parameter(torch.zeros(num_features)),
            }
        )
        self.moments = nn.ParameterDict(
            {
                "mean": nn.Parameter(torch.zeros(num_features), requires_grad=False),
                "var": nn.Parameter(torch.ones(num_features), requires_grad=False),
            }
        )
        self.num_batches_tracked = 0

    def forward(self, x):
        c = x.shape[1]
        xt = x.transpose(0, 1).reshape(c, -1)
        if self.training:
            mean = xt.mean(dim=1)
            var = (xt - mean[:, None]).pow(2).mean(dim=1)
            with torch.no_grad():
                k = xt.shape[1]
                self.moments["mean"].lerp_(mean.to(self.moments["mean"].dtype), self.momentum)
                self.moments["var"].lerp_(
                    (var * k / (k - 1)).to(self.moments["var"].dtype), self.momentum
                )
                self.num_batches_tracked += 1
        else:
            mean = self.moments["mean"].to(x.dtype)
            var = self.moments["var"].to(x.dtype)
        yt = (xt - mean[:, None]) / torch.sqrt(var[:, None] + self.eps)
        yt = (
            yt * self.affine["scale"].to(x.dtype)[:, None]
            + self.affine["shift"].to(x.dtype)[:, None]
        )
        moved = (x.shape[1], x.shape[0], *tuple(x.shape[2:]))
        return yt.reshape(moved).transpose(0, 1)
