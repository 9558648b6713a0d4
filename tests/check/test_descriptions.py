"""What a target process says it is, checked (``checked_description`` in
``bncheck.check._verify.results``): nothing from the target is trusted, so every field is tested
at and one past its range, with values of the wrong type, and with text that could redraw a
terminal.
"""

from __future__ import annotations

from typing import Any

import pytest

from bncheck.exceptions import LoadError, TargetError
from tests.internals import MAX_CHANNELS, checked_description


def test_the_widest_target_is_4096_channels() -> None:
    assert MAX_CHANNELS == 4096


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        pytest.param(1, 1, id="one"),
        pytest.param(4096, 4096, id="exactly-MAX_CHANNELS"),
        pytest.param(0, None, id="zero-a-lazy-layer"),
        pytest.param(-3, None, id="negative"),
        pytest.param(True, None, id="True-is-not-a-count"),
        pytest.param(False, None, id="False"),
        pytest.param(3.0, None, id="a-float"),
        pytest.param("3", None, id="a-string"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_channels_are_a_positive_int_up_to_max_channels_else_unknown(
    channels: Any, expected: int | None
) -> None:
    assert checked_description({"channels": channels}).channels == expected


@pytest.mark.parametrize("channels", [4097, 10**9])
def test_a_target_wider_than_max_channels_is_refused(channels: int) -> None:
    with pytest.raises(LoadError, match=f"num_features={channels}; bncheck verifies at most 4096"):
        checked_description({"channels": channels})


@pytest.mark.parametrize(
    ("ndims", "expected"),
    [
        pytest.param([2, 3, 4, 5], (2, 3, 4, 5), id="every-rank"),
        pytest.param([1, 2, 5, 6], (2, 5), id="one-below-and-one-above"),
        pytest.param([0, -2, 64], (), id="none-in-range"),
        pytest.param([True, 2], (2,), id="True-is-not-rank-1"),
        pytest.param([2.0, "4", 4], (4,), id="only-ints"),
        pytest.param((2, 4), (), id="a-tuple-is-not-the-list-the-wire-sends"),
        pytest.param(None, (), id="absent"),
    ],
)
def test_ranks_are_the_ints_2_to_5_the_target_lists(ndims: Any, expected: tuple[int, ...]) -> None:
    assert checked_description({"ndims": ndims}).ndims == expected


def test_booleans_count_only_when_exactly_true() -> None:
    for key in ("running", "probe", "equal_shards"):
        assert getattr(checked_description({key: True}), key) is True
        assert getattr(checked_description({key: 1}), key) is False
        assert getattr(checked_description({key: "yes"}), key) is False


def test_variants_are_only_the_known_alternative_backward() -> None:
    got = checked_description({"variants": ["batchnorm_backward_alt", "os.system", 3]})
    assert got.variants == ("batchnorm_backward_alt",)


def test_text_from_the_target_is_cut_and_cannot_redraw_the_terminal() -> None:
    got = checked_description(
        {
            "kind": "k" * 100,
            "mapping": ["a\x1b[2Jb\rc\nd", "x" * 400] + ["m"] * 20,
            "rank_errors": {i: "e" * 700 for i in range(6)},
        }
    )
    assert got.kind == "k" * 60  # room for "sync-flax.linen (4 CPU devices, jax.shard_map)"
    assert got.mapping[0] == "a?[2Jb?c\nd"
    assert got.mapping[1] == "x" * 300
    assert len(got.mapping) == 16
    assert list(got.rank_errors) == ["0", "1", "2", "3"]
    # 600: the 300 characters of a message and its last line (targets/common.raised_text)
    assert all(v == "e" * 600 for v in got.rank_errors.values())


@pytest.mark.parametrize("description", [None, [], "a layer", 3])
def test_a_description_that_is_not_a_dict_is_a_target_error(description: Any) -> None:
    with pytest.raises(TargetError, match="described itself as"):
        checked_description(description)
