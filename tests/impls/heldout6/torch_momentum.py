"""Hand-written torch BatchNorm with `momentum=0.1` in PyTorch's signature (autograd backward).
BUG: the update uses the Keras/TensorFlow form,
running = momentum * running + (1 - momentum) * batch, so with momentum 0.1 the running
statistics keep only 10 % of their past."""

import torch
from torch import nn


class BN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("moving_mean", torch.zeros(num_features))
        self.register_buffer("moving_var", torch.ones(num_features))

    def forward(self, x):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            m = x.numel() // x.shape[1]
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            with torch.no_grad():
                mm, mv = self.moving_mean, self.moving_var
                mm.copy_(self.momentum * mm + (1 - self.momentum) * mean.to(mm.dtype))  # BUG
                mv.copy_(
                    self.momentum * mv + (1 - self.momentum) * (var * m / (m - 1)).to(mv.dtype)
                )
        else:
            mean, var = self.moving_mean.to(x.dtype), self.moving_var.to(x.dtype)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.gamma.view(shape) + self.beta.view(shape)
