"""The wire codec's own decisions (``bncheck.check._verify.process.wire``), tested directly:
every limit exactly at and one past its value, each type tag, and what becomes a marker
instead of data.

The expected bytes are written out from the format the module documents (a one-byte tag, a
big-endian length or value), not taken from ``encode``.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from tests.internals import wire

I64 = struct.Struct(">q")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")


def nested(depth: int, inner: Any = 1) -> Any:
    """``inner`` inside ``depth`` lists: nested(2) == [[1]]."""
    value = inner
    for _ in range(depth):
        value = [value]
    return value


def innermost(value: Any, depth: int) -> Any:
    for _ in range(depth):
        assert type(value) is list and len(value) == 1
        value = value[0]
    return value


def array_bytes(code: bytes, shape: tuple[int, ...], nbytes: int, data: bytes = b"") -> bytes:
    """An array message by hand: tag, dtype code, ndim, the lengths, the byte count, data."""
    head = b"a" + bytes([len(code)]) + code + bytes([len(shape)])
    return head + b"".join(U64.pack(n) for n in shape) + U64.pack(nbytes) + data


# -- ints: the 64-bit range -------------------------------------------------------------------

INT_EDGES = [
    pytest.param(2**63 - 1, True, id="largest-int64"),
    pytest.param(-(2**63), True, id="smallest-int64"),
    pytest.param(2**63, False, id="one-past-the-largest"),
    pytest.param(-(2**63) - 1, False, id="one-past-the-smallest"),
    pytest.param(10**30, False, id="far-outside"),
]


@pytest.mark.parametrize(("value", "fits"), INT_EDGES)
def test_an_int_crosses_as_itself_exactly_inside_the_64_bit_range_else_as_a_marker(
    value: int, fits: bool
) -> None:
    data = wire.encode(value)
    if fits:
        assert data == b"i" + I64.pack(value)
        assert wire.decode(data) == value
    else:
        assert wire.decode(data) == wire.Unsupported("int outside the 64-bit range")


def test_an_int_outside_the_64_bit_range_is_an_error_in_strict_mode() -> None:
    with pytest.raises(wire.WireError, match="int outside the 64-bit range"):
        wire.encode(2**63, strict=True)
    assert wire.encode(2**63 - 1, strict=True) == b"i" + I64.pack(2**63 - 1)


def test_a_bool_is_not_an_int_on_the_wire() -> None:
    assert wire.encode(True) == b"T" and wire.encode(False) == b"F"
    assert wire.decode(b"T") is True and wire.decode(b"F") is False


# -- the value count --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "items", "refused"),
    [
        pytest.param(1, 0, False, id="an-empty-list-is-one-value"),
        pytest.param(1, 1, True, id="a-list-of-one-is-two-values"),
        pytest.param(5, 4, False, id="exactly-at-the-limit"),
        pytest.param(5, 5, True, id="one-past-the-limit"),
    ],
)
def test_decode_takes_exactly_max_items_values_and_refuses_one_more(
    limit: int, items: int, refused: bool
) -> None:
    data = b"l" + U32.pack(items) + b"N" * items  # the list itself and its items
    if refused:
        with pytest.raises(wire.TooMany, match=f"more than {limit} values"):
            wire.decode(data, max_items=limit)
    else:
        assert wire.decode(data, max_items=limit) == [None] * items


# -- nesting ----------------------------------------------------------------------------------


def test_lists_nested_max_depth_deep_cross_as_themselves() -> None:
    value = nested(wire.MAX_DEPTH)
    assert wire.decode(wire.encode(value, strict=True)) == value


def test_a_list_one_level_deeper_than_max_depth_becomes_a_marker_at_that_level() -> None:
    """The list at depth MAX_DEPTH (the 33rd) is not sent: a marker stands in its place, and
    what the decoder receives is well formed."""
    got = wire.decode(wire.encode(nested(wire.MAX_DEPTH + 1)))
    marker = innermost(got, wire.MAX_DEPTH)
    assert marker == wire.Unsupported(f"list nested deeper than {wire.MAX_DEPTH}")
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.encode(nested(wire.MAX_DEPTH + 1), strict=True)


def test_decode_refuses_a_forged_message_nested_past_its_depth_limit() -> None:
    """Lists nested MAX_DEPTH + 2 deep around None: one more level than the encoder ever
    writes (MAX_DEPTH lists and a marker)."""
    depth = wire.MAX_DEPTH + 2
    forged = (b"l" + U32.pack(1)) * depth + b"N"
    with pytest.raises(wire.WireError, match="nesting deeper"):
        wire.decode(forged, max_items=None)
    ok = (b"l" + U32.pack(1)) * (wire.MAX_DEPTH + 1) + b"N"
    assert innermost(wire.decode(ok), wire.MAX_DEPTH + 1) is None


# -- arrays -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "refused"),
    [
        pytest.param((0,), False, id="empty"),
        pytest.param((0, 2**40), False, id="one-length-at-2**40"),
        pytest.param((0, 2**40 + 1), True, id="one-length-past-2**40"),
        pytest.param((2**40 + 1, 0), True, id="the-first-length-past-2**40"),
        pytest.param((2**41, 2**41, 0), True, id="every-length-huge"),
    ],
)
def test_an_empty_array_is_refused_when_any_of_its_lengths_is_past_2_to_the_40(
    shape: tuple[int, ...], refused: bool
) -> None:
    data = array_bytes(b"<f8", shape, 0)
    if refused:
        with pytest.raises(wire.WireError, match="array of shape"):
            wire.decode(data)
    else:
        got = wire.decode(data)
        assert got.shape == shape and got.dtype == np.float64


@pytest.mark.parametrize(
    ("ndim", "refused"),
    [
        pytest.param(32, False, id="at-max-ndim"),
        pytest.param(33, True, id="one-past-max-ndim"),
    ],
)
def test_an_array_may_have_max_ndim_dimensions_and_not_one_more(ndim: int, refused: bool) -> None:
    data = array_bytes(b"<f8", (1,) * ndim, 8, b"\0" * 8)
    if refused:
        with pytest.raises(wire.WireError, match=f"array with {ndim} dimensions"):
            wire.decode(data)
    else:
        assert wire.decode(data).shape == (1,) * ndim
    arr = np.zeros((1,) * ndim)
    expected = wire.Unsupported(f"ndarray with {ndim} dimensions") if refused else None
    back = wire.decode(wire.encode(arr))
    assert back == expected if refused else back.shape == arr.shape


@pytest.mark.parametrize(
    ("nbytes", "ok"),
    [
        pytest.param(24, True, id="three-float64s"),
        pytest.param(23, False, id="one-byte-short"),
        pytest.param(25, False, id="one-byte-over"),
    ],
)
def test_an_arrays_byte_count_must_be_exactly_its_shape_times_its_itemsize(
    nbytes: int, ok: bool
) -> None:
    data = array_bytes(b"<f8", (3,), nbytes, b"\0" * nbytes)
    if ok:
        assert wire.decode(data).tolist() == [0.0, 0.0, 0.0]
    else:
        with pytest.raises(wire.WireError, match="cannot have"):
            wire.decode(data)


@pytest.mark.parametrize("code", [b"<c16", b"|O", b"<M8[s]", b"<U4", b">f8"])
def test_decode_refuses_every_dtype_but_the_plain_native_ones(code: bytes) -> None:
    with pytest.raises(wire.WireError, match="is not allowed"):
        wire.decode(array_bytes(code, (1,), 8, b"\0" * 8))


def test_arrays_of_every_allowed_dtype_cross_bit_for_bit() -> None:
    for name in ("bool", "int8", "uint64", "float16", "float32", "float64"):
        arr = np.arange(6).reshape(2, 3).astype(name)
        back = wire.decode(wire.encode(arr))
        assert back.dtype == arr.dtype and back.tobytes() == arr.tobytes()


# -- what is not plain data -------------------------------------------------------------------


class MyList(list):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    ("value", "name"),
    [
        pytest.param(MyList([1]), "MyList", id="a-subclass"),
        pytest.param({(1, 2): 3}, "tuple (as a dict key)", id="a-tuple-key"),
        pytest.param(np.zeros(2, complex), "ndarray of complex128", id="complex-array"),
        pytest.param(1j, "complex", id="complex"),
    ],
)
def test_what_is_not_plain_data_becomes_a_marker_with_its_type_name(value: Any, name: str) -> None:
    got = wire.decode(wire.encode(value))
    assert wire.find_unsupported(got)[1] == name  # type: ignore[index]
    with pytest.raises(wire.WireError):
        wire.encode(value, strict=True)


def test_a_marker_carries_at_most_200_characters_of_a_type_name() -> None:
    long = type("N" * 500, (), {})()
    got = wire.decode(wire.encode(long))
    assert got == wire.Unsupported("N" * 200)
    forged = b"u" + U32.pack(300) + b"x" * 300
    assert wire.decode(forged) == wire.Unsupported("x" * 200)


def test_find_unsupported_gives_the_path_to_the_first_marker() -> None:
    data = {"a": [1, (2, wire.Unsupported("T"))], "b": wire.Unsupported("U")}
    assert wire.find_unsupported(data) == (("a", 1, 1), "T")
    assert wire.find_unsupported({wire.Unsupported("K"): 1}) == ((wire.Unsupported("K"),), "K")
    assert wire.find_unsupported([1, {"x": None}]) is None


# -- the encoder's size limit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "refused"),
    [pytest.param(8, False, id="at-the-limit"), pytest.param(7, True, id="one-under")],
)
def test_encode_fills_its_limit_exactly_and_refuses_one_byte_more(
    limit: int, refused: bool
) -> None:
    value = "abc"  # tag + 4-byte length + 3 bytes = 8 bytes
    if refused:
        with pytest.raises(wire.TooLarge) as info:
            wire.encode(value, limit=limit)
        assert info.value.limit == limit
    else:
        assert wire.encode(value, limit=limit) == b"s" + U32.pack(3) + b"abc"
