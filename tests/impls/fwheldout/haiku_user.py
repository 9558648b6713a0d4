"""Haiku: hk.BatchNorm without a scale, decay_rate 0.9, channels-first, under
transform_with_state."""

import haiku as hk


def _net(x, is_training):
    bn = hk.BatchNorm(
        create_scale=False,
        create_offset=True,
        decay_rate=0.9,
        eps=1e-3,
        data_format="channels_first",
    )
    return bn(x, is_training=is_training)


offset_only = hk.transform_with_state(_net)
