"""Haiku in the forms its documentation shows, for tests/check/test_verify_framework_forms.py:
hk.BatchNorm inside transformed functions whose mode argument is keyword-only or an eval flag
(with an rng in apply), a factory of hk.BatchNorm modules, and a function whose second argument
says nothing of a mode (refused, naming it). Each computes Haiku's one-pass batch variance."""

from __future__ import annotations

from typing import Any

import haiku as hk


def _bn() -> hk.BatchNorm:
    return hk.BatchNorm(
        create_scale=True,
        create_offset=True,
        decay_rate=0.9,
        eps=1e-5,
        data_format="channels_first",
    )


def _keyword_only(x: Any, *, is_training: bool) -> Any:
    return _bn()(x, is_training=is_training)


def _eval_flag(x: Any, inference: bool = False) -> Any:
    return _bn()(x, is_training=not inference)


def _unnamed_flag(x: Any, flag: bool) -> Any:
    return _bn()(x, is_training=flag)


#: is_training keyword-only, apply without an rng
keyword_only = hk.without_apply_rng(hk.transform_with_state(_keyword_only))
#: an eval flag (True: eval), apply taking an rng (None is given)
eval_flag = hk.transform_with_state(_eval_flag)
#: a second argument bncheck cannot read as a mode
unnamed_flag = hk.without_apply_rng(hk.transform_with_state(_unnamed_flag))


def make_bn(num_features: int) -> hk.BatchNorm:
    """A factory of hk.BatchNorm (it can only be called inside a transform)."""
    del num_features  # Haiku infers it from the input
    return _bn()
