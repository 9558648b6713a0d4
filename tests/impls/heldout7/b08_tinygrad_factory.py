"""A factory for tinygrad.nn.BatchNorm as a user's model code calls it (train/eval through
tinygrad's Tensor.training flag). Correct use of the framework layer.

This machine has no clang, so tinygrad's CPU device is unusable; the user picks tinygrad's
pure-Python device unless another one is configured.
"""

import os

os.environ.setdefault("DEV", "PYTHON")

from tinygrad import nn  # noqa: E402


def make_bn(num_features):
    return nn.BatchNorm(num_features, eps=1e-5, momentum=0.1)
