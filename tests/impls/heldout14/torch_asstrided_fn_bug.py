"""A PyTorch module whose training path is a torch.autograd.Function with a hand-written
backward. To avoid reshape copies the Function views x and grad_output as (N, C, L) with
torch.as_strided and the strides of a contiguous tensor.
StridedBN(C): PyTorch convention (momentum 0.1, unbiased running variance in buffers), eps
1e-5; eval uses the running buffers through ordinary broadcasting.

PLANTED MISTAKE: as_strided with contiguous strides reads a non-contiguous tensor (permuted,
channels_last, Fortran-like, sliced) in the wrong order, so on such x (forward, and the running
statistics) or grad_output (backward) samples, channels and positions are mixed. Contiguous
tensors are right, and so is eval on any layout.
"""

import torch
from torch import nn


def _ncl(t):
    n, c = t.shape[0], t.shape[1]
    k = t.numel() // (n * c)
    return torch.as_strided(t, (n, c, k), (c * k, k, 1), t.storage_offset())


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        x3 = _ncl(x)
        mean = x3.mean(dim=(0, 2), keepdim=True)
        xc = x3 - mean
        var = (xc * xc).mean(dim=(0, 2), keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = xc * rstd
        y = xhat * weight.view(1, -1, 1) + bias.view(1, -1, 1)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.in_shape = x.shape
        return y.reshape(x.shape), mean.view(-1), var.view(-1)

    @staticmethod
    def backward(ctx, grad_out, _gm, _gv):
        xhat, rstd, weight = ctx.saved_tensors
        g3 = _ncl(grad_out)
        m = xhat.shape[0] * xhat.shape[2]
        dbias = g3.sum(dim=(0, 2))
        dweight = (g3 * xhat).sum(dim=(0, 2))
        dx = (
            weight.view(1, -1, 1)
            * rstd
            / m
            * (m * g3 - dbias.view(1, -1, 1) - xhat * dweight.view(1, -1, 1))
        )
        return dx.reshape(ctx.in_shape), dweight, dbias, None


class StridedBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("running_mean", torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(num_features, dtype=torch.float64))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        w, b = self.weight.to(x.dtype), self.bias.to(x.dtype)
        if not self.training:
            inv = torch.rsqrt(self.running_var.to(x.dtype) + self.eps)
            return (x - self.running_mean.to(x.dtype).view(shape)) * (w * inv).view(shape) + b.view(
                shape
            )
        y, mean, var = _BNFunction.apply(x, w, b, self.eps)
        n = x.numel() // x.shape[1]
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.double())
            self.running_var.mul_(1 - self.momentum).add_(
                self.momentum * var.double() * n / (n - 1)
            )
        return y
