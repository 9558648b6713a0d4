"""A `_BatchNorm` subclass (as c_torch_sub.py: hand-written autograd Function, any rank 2-5,
torch convention) with an inference fast path: in eval mode under `torch.no_grad()` the
output is written into a workspace kept per input shape and dtype.
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


class InferBN(_BatchNorm):
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
            if not torch.is_grad_enabled():
                return self._inference(x)
            mean = self.running_mean.to(x.dtype)
            var = self.running_var.to(x.dtype)
            training = False
        w = self.weight.to(x.dtype)
        b = self.bias.to(x.dtype)
        return _BNFunction.apply(x, w, b, mean, var, self.eps, training)

    def _inference(self, x):
        # inference without autograd: fold into one scale and shift and write the result
        # into a workspace kept per input shape (no allocation per call)
        if not hasattr(self, "_workspace"):
            self._workspace = {}
        key = (tuple(x.shape), x.dtype)
        buf = self._workspace.get(key)
        if buf is None:
            buf = torch.empty(x.numel(), dtype=x.dtype)
            self._workspace[key] = buf
        shape = [1, -1] + [1] * (x.dim() - 2)
        scale = self.weight.to(x.dtype) * torch.rsqrt(self.running_var.to(x.dtype) + self.eps)
        shift = self.bias.to(x.dtype) - self.running_mean.to(x.dtype) * scale
        out = buf.view(x.shape)
        torch.mul(x, scale.view(shape), out=out)
        out.add_(shift.view(shape))
        return out
