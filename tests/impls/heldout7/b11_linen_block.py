"""A flax.linen module a user writes around nn.BatchNorm for NCHW data: the train flag is
passed at call time, two-pass variance requested. Correct.
"""

import flax.linen as nn


class NormBlock(nn.Module):
    momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool = True):
        return nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=1e-5,
            axis=1,
            use_fast_variance=False,
        )(x)
