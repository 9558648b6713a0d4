"""A Haiku model f(x, is_training) around hk.BatchNorm, with a planted bug in the user's own code:
a constant shift is added after the BN in training only."""

import haiku as hk


def f(x, is_training):
    bn = hk.BatchNorm(create_scale=True, create_offset=True, decay_rate=0.9, eps=1e-5)
    y = bn(x, is_training=is_training)
    if is_training:
        y = y + 0.05  # BUG: a leftover "warm-up" shift applied only in training
    return y


model = hk.transform_with_state(f)
