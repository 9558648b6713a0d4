"""haiku.BatchNorm used inside a user function transformed with
hk.transform_with_state (channels-first data). Correct use of the framework layer; note
that Haiku's BatchNorm takes the batch variance in one pass (E[x^2] - E[x]^2).
"""

import haiku as hk


def _net(x, is_training):
    bn = hk.BatchNorm(
        create_scale=True, create_offset=True, decay_rate=0.9, eps=1e-5,
        data_format="channels_first",
    )
    return bn(x, is_training=is_training)


model = hk.without_apply_rng(hk.transform_with_state(_net))
