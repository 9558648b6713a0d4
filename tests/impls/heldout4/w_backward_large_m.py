"""BatchNorm with a hand-written backward that reduces large channels in 4096-value blocks."""

import torch
from torch import nn

BLOCK = 4096


def _channel_sums(t):
    # t: (C, m) -> per-channel sums, blocked for long channels
    m = t.size(1)
    if m <= BLOCK:
        return t.sum(1)
    nblocks = m // BLOCK
    acc = torch.zeros(t.size(0), dtype=t.dtype)
    for b in range(nblocks):
        acc += t[:, b * BLOCK : (b + 1) * BLOCK].sum(1)
    return acc


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dims, keepdim=True)
        inv = 1.0 / torch.sqrt(var + eps)
        xh = (x - mean) * inv
        ctx.save_for_backward(xh, inv, weight)
        return xh * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, dy):
        xh, inv, weight = ctx.saved_tensors
        c = xh.size(1)
        dims = [0, *range(2, xh.dim())]
        shape = [1, -1] + [1] * (xh.dim() - 2)
        m = xh.numel() // c
        dw = (dy * xh).sum(dims)
        db = dy.sum(dims)
        g = dy * weight.view(shape)
        g_c = g.transpose(0, 1).reshape(c, -1)
        gx_c = (g * xh).transpose(0, 1).reshape(c, -1)
        s1 = _channel_sums(g_c).view(shape)
        s2 = _channel_sums(gx_c).view(shape)
        dx = inv * (g - s1 / m - xh * s2 / m)
        return dx, dw, db, None


class BlockedBN(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            shape = [1, -1] + [1] * (x.dim() - 2)
            xh = (x - self.running_mean.view(shape)) / torch.sqrt(
                self.running_var.view(shape) + self.eps
            )
            return xh * self.weight.view(shape) + self.bias.view(shape)
        with torch.no_grad():
            dims = [0, *range(2, x.dim())]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(dims))
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dims))
        return _BNFunction.apply(x, self.weight, self.bias, self.eps)
