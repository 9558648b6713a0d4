"""Flax BNs configured as a user's model file configures them."""

from flax import linen, nnx

linen_bn = linen.BatchNorm(
    momentum=0.9, epsilon=1e-3, use_running_average=None, use_fast_variance=False
)


def nnx_bn(num_features):
    return nnx.BatchNorm(num_features, momentum=0.95, epsilon=1e-4, rngs=nnx.Rngs(0))
