"""Mistral-style RMSNorm module whose kernel is a torch.autograd.Function with a
hand-written backward (as fused-kernel repos ship a reference implementation)."""

import torch
from torch import nn


class _RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, eps):
        variance = hidden.pow(2).mean(-1, keepdim=True)
        rstd = torch.rsqrt(variance + eps)
        normed = hidden * rstd
        ctx.save_for_backward(normed, rstd, weight)
        return weight * normed

    @staticmethod
    def backward(ctx, grad_output):
        normed, rstd, weight = ctx.saved_tensors
        grad_weight = (grad_output * normed).reshape(-1, normed.shape[-1]).sum(0)
        gw = grad_output * weight
        dot = (gw * normed).mean(-1, keepdim=True)
        grad_input = rstd * (gw - normed * dot)
        return grad_input, grad_weight, None


class MistralRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        return _RMSNormFunction.apply(hidden_states, self.weight, self.variance_epsilon)
