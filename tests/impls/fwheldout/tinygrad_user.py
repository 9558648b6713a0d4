"""tinygrad: a BatchNorm subclass taking a training flag instead of the global TRAINING."""

from tinygrad.helpers import Context
from tinygrad.nn import BatchNorm


class FlaggedBN(BatchNorm):
    """Correct: momentum 0.05, eps 1e-3; the flag sets tinygrad's TRAINING context."""

    def __init__(self, sz):
        super().__init__(sz, eps=1e-3, momentum=0.05)

    def __call__(self, x, training=True):
        with Context(TRAINING=int(bool(training))):
            return super().__call__(x)
