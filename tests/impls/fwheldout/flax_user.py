"""Flax: a linen model toggling use_running_average by argument, and an nnx subclass."""

import flax.linen as nn
from flax import nnx


class LinenNorm(nn.Module):
    """Correct: the documented pattern (train argument -> use_running_average), two-pass
    variance, momentum 0.8, epsilon 1e-3, no axis_name."""

    @nn.compact
    def __call__(self, x, train: bool = True):
        return nn.BatchNorm(
            use_running_average=not train, momentum=0.8, epsilon=1e-3, use_fast_variance=False
        )(x)


class NnxBatchOnly(nnx.BatchNorm):
    """BUG: overrides __call__ and always passes use_running_average=False, so after
    .eval() (use_running_average=True) it still normalizes by the batch and updates mean/var."""

    def __init__(self, num_features):
        super().__init__(
            num_features, momentum=0.9, epsilon=1e-5, use_fast_variance=False, rngs=nnx.Rngs(0)
        )

    def __call__(self, x, use_running_average=None, *, mask=None):
        return super().__call__(x, use_running_average=False, mask=mask)
