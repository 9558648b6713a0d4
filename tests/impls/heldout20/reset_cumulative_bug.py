"""An AdaBN-style `_BatchNorm` subclass (as c_torch_sub.py: hand-written autograd Function,
any rank 2-5) built with `momentum=None` by default: the running statistics are the
cumulative average over `num_batches_tracked` (PyTorch's convention for momentum=None). Its
own `reset_running_stats()` (called by AdaBN before re-estimating the statistics on a target
domain) refills the running mean and variance.
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


class AdaBN(_BatchNorm):
    """AdaBN-style: `momentum=None` by default, so the running statistics are the plain average
    of every batch since the last reset; `reset_running_stats()` is called before the
    statistics are re-estimated on a new domain."""

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=None,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def reset_running_stats(self):
        # forget the source domain's statistics
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)

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
