"""A factory returning a flax.linen BatchNorm configured like many JAX ResNets (two-pass variance)."""

import flax.linen as nn


def build_norm(num_features):
    return nn.BatchNorm(momentum=0.9, epsilon=1e-5, use_fast_variance=False)
