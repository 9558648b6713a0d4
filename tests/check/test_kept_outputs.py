"""What a target returned stays its caller's: the target process watches the target's own
arrays behind the latest forwards' and backwards' outputs, and a later call that overwrites one
(a buffer reused per shape "to save allocations") fails ``no-mutation`` with the mistake
``output-overwritten``; an output the target keeps but never writes to again passes."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check import verify
from tests.internals import adapter_protocol as adapter
from tests.internals import target_child as child
from tests.paths import IMPLS

V = str(IMPLS / "variants.py")


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (f"{V}:workspace_output", "y returned by an earlier forward"),
        (f"{V}:workspace_dx", "dx returned by an earlier backward"),
        (f"{V}:output_buffer_layer", "y returned by an earlier forward"),
    ],
)
def test_an_output_overwritten_by_a_later_call_fails_and_is_named(target: str, said: str) -> None:
    report = verify(target, dtypes=("float64",), ndims=(2,), timeout=20)
    failed = {c.id: c for c in report.failed}
    assert set(failed) == {"no-mutation"}, sorted(failed)
    assert said in failed["no-mutation"].message
    assert [d["id"] for d in report.diagnosis] == ["output-overwritten"]


def test_an_output_kept_in_the_cache_but_never_written_again_passes() -> None:
    report = verify(f"{V}:output_in_cache", dtypes=("float64",), ndims=(2,), timeout=20)
    assert report.passed, [(c.id, c.message) for c in report.failed]


def test_only_a_forwards_and_a_backwards_outputs_copied_from_the_target_are_watched() -> None:
    mine = np.arange(6.0).reshape(2, 3)
    adapter.COPIED_FROM.clear()
    y = adapter.copy_out(mine)
    moved = np.moveaxis(adapter.copy_out(mine), 0, 1)  # an adapter's view of its copy
    fresh = np.ones(3)  # made by the adapter itself: nothing of the target's behind it
    try:
        kept = child.kept_outputs("forward", y)
        assert [(n, o is mine) for n, o, _ in kept] == [("y returned by an earlier forward", True)]
        kept = child.kept_outputs("backward", (moved, fresh, None))
        assert [n for n, _, _ in kept] == ["dx returned by an earlier backward"]
        # dgamma and dbeta: a parameter's gradient buffer, refilled by design, is not watched
        kept = child.kept_outputs("backward", (fresh, adapter.copy_out(mine), None))
        assert kept == []
        assert child.kept_outputs("state", y) == []  # running statistics may change
        assert child.kept_outputs("forward", np.empty((0, 3))) == []
    finally:
        adapter.COPIED_FROM.clear()


def _watched(before: np.ndarray) -> tuple[np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    arr = before.copy()
    return arr, [("x", arr, before.copy())]


def test_a_change_is_any_changed_bit_and_an_equal_write_is_none() -> None:
    """``changed_names`` compares bits: a write of the same values is no change; the sign of a
    zero, the payload of a NaN and one ULP are (``np.array_equal`` with ``equal_nan`` missed
    the first two)."""
    base = np.array([[0.0, 1.0], [np.nan, -2.5]])
    arr, snap = _watched(base)
    arr[...] = base  # the same bits written again
    assert child.changed_names(snap) == []
    for index, value in [
        ((0, 0), -0.0),  # equal as values, another bit
        ((1, 0), np.frombuffer(np.uint64(0x7FF8000000000001).tobytes())[0]),  # another NaN
        ((0, 1), np.nextafter(1.0, 2.0)),
    ]:
        arr, snap = _watched(base)
        arr[index] = value
        assert child.changed_names(snap) == ["x"], (index, value)


def test_a_watched_array_read_in_any_layout_and_changed_in_shape_or_dtype() -> None:
    base = np.arange(12.0).reshape(3, 4)
    view = np.asfortranarray(base)[:, ::-1]  # not C-contiguous: its bytes in C order
    snap = [("x", view, view.copy())]
    assert child.changed_names(snap) == []
    view[2, 0] = 99.0
    assert child.changed_names(snap) == ["x"]
    arr, snap = _watched(base)
    arr.shape = (4, 3)  # the same bytes, another shape
    assert child.changed_names(snap) == ["x"]
    arr, snap = _watched(base)
    snap = [("x", arr.view(np.int64), snap[0][2])]  # the same bytes, another dtype
    assert child.changed_names(snap) == ["x"]
