"""Framework built-ins configured the way a training script configures them."""

import torch
from torch import nn


def cumulative_bn2d(num_features):
    # momentum=None: the running pair is the plain average of every batch seen
    return nn.BatchNorm2d(num_features, momentum=None)


def slow_bn1d(num_features):
    return nn.BatchNorm1d(num_features, eps=1e-3, momentum=0.01)


def sync_bn(num_features):
    # no process group initialised: falls back to the ordinary batch norm
    return nn.SyncBatchNorm(num_features, eps=1e-4, momentum=0.3)


lazy_bn = nn.LazyBatchNorm1d(eps=1e-4, momentum=0.2)

gn8 = nn.GroupNorm(8, 32, eps=1e-6)

ln_weight_only = nn.LayerNorm(24, bias=False)


def scripted_bn(num_features):
    return torch.jit.script(nn.BatchNorm1d(num_features, eps=1e-3, momentum=0.05))


def seq_bn(num_features):
    return nn.Sequential(nn.Identity(), nn.BatchNorm1d(num_features, eps=2e-3, momentum=0.2))
