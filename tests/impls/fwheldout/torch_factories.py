"""Factories returning configured torch BNs, as a model file builds them."""

from torch import nn


def cumulative_plain(num_features):
    """BatchNorm1d with a cumulative average (momentum=None) and no affine step, on (N, C, L)."""
    return nn.BatchNorm1d(num_features, momentum=None, affine=False)


def volume_batch_only(num_features):
    """BatchNorm3d that keeps no running statistics (batch statistics in eval too)."""
    return nn.BatchNorm3d(num_features, eps=1e-3, track_running_stats=False)


def bn_relu(num_features):
    """A BN followed by a ReLU: a block, not a BN."""
    return nn.Sequential(nn.BatchNorm1d(num_features), nn.ReLU())
