"""RMSNorm of a state-space LM: the reference path of a fused add+norm kernel (optional
residual added before the norm, optional pre-norm residual returned)."""

import torch
from torch import nn


def rms_norm_ref(x, weight, bias=None, residual=None, eps=1e-6, prenorm=False, upcast=False):
    dtype = x.dtype
    if upcast:
        x = x.float()
        weight = weight.float()
        bias = bias.float() if bias is not None else None
        residual = residual.float() if residual is not None else None
    if residual is not None:
        x = x + residual
    rstd = 1.0 / torch.sqrt(x.square().mean(dim=-1, keepdim=True) + eps)
    out = x * rstd * weight
    if bias is not None:
        out = out + bias
    out = out.to(dtype)
    return (out, x) if prenorm else out


class RMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.register_parameter("bias", None)

    def forward(self, x, residual=None, prenorm=False):
        return rms_norm_ref(
            x, self.weight, self.bias, residual=residual, eps=self.eps, prenorm=prenorm
        )
