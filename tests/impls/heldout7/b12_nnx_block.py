"""A flax.nnx module holding nnx.BatchNorm for channels-last (NHWC) data, switched with
model.train() / model.eval(), two-pass variance requested. Correct.
"""

from flax import nnx


class Block(nnx.Module):
    def __init__(self, num_features, *, rngs=None):
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        self.norm = nnx.BatchNorm(
            num_features, momentum=0.9, epsilon=1e-5, use_fast_variance=False, rngs=rngs
        )

    def __call__(self, x):
        return self.norm(x)
