"""PyTorch BN module on a custom torch.autograd.Function whose backward recomputes the
statistics from the saved input.  PLANTED BUG: the backward's inverse std has no eps.

Style: memory-saving custom Functions (as in in-place-activated BN write-ups) save only x
and the weight, and the backward recomputes mean, variance, inverse std and x_hat.  Here
the recomputation writes `var.rsqrt()`, forgetting the `+ eps` the forward has; the
forward, the running statistics (PyTorch convention) and eval mode are right.  The error is
visible where a channel's variance is not large beside eps.  Buffers `mu_run`/`var_run`.

    bncheck verify torch_fn_bug.py:RecomputeBatchNorm --convention torch
"""

import torch
from torch import nn


def _dims(x):
    return [0, *range(2, x.dim())]


class _RecomputeBN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = _dims(x)
        view = [1, -1] + [1] * (x.dim() - 2)
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + eps) * weight.view(view) + bias.view(view)
        ctx.save_for_backward(x, weight)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        dims = _dims(x)
        view = [1, -1] + [1] * (x.dim() - 2)
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        inv_std = var.rsqrt()  # BUG: the forward used rsqrt(var + eps)
        xhat = (x - mean) * inv_std
        grad_weight = (grad_out * xhat).sum(dim=dims)
        grad_bias = grad_out.sum(dim=dims)
        g = grad_out * weight.view(view)
        grad_x = inv_std * (
            g - g.mean(dim=dims, keepdim=True) - xhat * (g * xhat).mean(dim=dims, keepdim=True)
        )
        return grad_x, grad_weight, grad_bias, None


class RecomputeBatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("mu_run", torch.zeros(num_features))
        self.register_buffer("var_run", torch.ones(num_features))

    def forward(self, x):
        view = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            with torch.no_grad():
                var, mean = torch.var_mean(x, dim=_dims(x), correction=1)
                self.mu_run.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.var_run.mul_(1 - self.momentum).add_(self.momentum * var)
            return _RecomputeBN.apply(x, self.weight, self.bias, self.eps)
        inv = torch.rsqrt(self.var_run + self.eps)
        return (x - self.mu_run.view(view)) * (inv * self.weight).view(view) + self.bias.view(view)
