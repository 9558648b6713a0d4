"""Plain data between verify and its target process: a strict codec.

Nothing a target produces is ever unpickled, imported or evaluated in the verify process. What
crosses the pipe is plain data, encoded by :func:`encode` and checked by :func:`decode`:

- ``None``, ``bool``, ``int`` (64-bit), ``float``, ``str``;
- NumPy arrays of bool, int8-64, uint8-64, float16/32/64 (raw bytes with dtype and shape) and
  NumPy scalars of those dtypes;
- from verify to its target only (``encode(layouts=True)``, ``decode(layouts=True)``): such an
  array in its memory layout (a Fortran-ordered, transposed, sliced or reversed view), sent as
  its strides, the byte offset of its first element and the span of the buffer it views, so
  that the target is handed exactly the layout under test (the gaps of a sliced view are NaN
  on arrival, so a kernel that reads them gets NaN);
- ``list``, ``tuple`` and ``dict`` (keys ``str`` or ``int``) of those.

Only these exact types are encoded (subclasses are not: a subclass is the target's own class).
Anything else becomes an :class:`Unsupported` marker that carries only the type's name, so that
the parent can report "forward returned MyTensor; expected a NumPy array".

The encoded messages travel in length-prefixed frames (:mod:`bncheck.check._verify.process.frames`).
"""

from __future__ import annotations

import math
import struct
import time
from typing import Any

import numpy as np

from bncheck.exceptions import BncheckError

__all__ = [
    "MAX_ITEMS",
    "TooLarge",
    "TooMany",
    "TooSlow",
    "Unsupported",
    "WireError",
    "decode",
    "encode",
    "find_unsupported",
    "type_name",
]


_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

#: nesting deeper than this is not plain data (and would exhaust the recursion limit)
MAX_DEPTH = 32
MAX_NDIM = 32
#: values (numbers, strings, arrays, markers, containers) one message may hold. bncheck's
#: replies hold a few hundred; a 64 MB reply of five-byte empty lists would hold 13 million and
#: cost the parent about 1 GB of memory and many seconds to decode
MAX_ITEMS = 100_000
#: the clock is read once per this many values while decoding
_CLOCK_EVERY = 1024
#: the longest type name a marker carries
_NAME_LIMIT = 200
#: a laid-out array's buffer may span at most this many times its values' bytes (plus a page):
#: the sliced views verify sends span about twice theirs
_SPAN_FACTOR = 8
_SPAN_SLACK = 4096

_DTYPE_NAMES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)
#: allowed dtypes by their ``dtype.str`` (native byte order), the only strings decode accepts
_DTYPES: dict[str, np.dtype[Any]] = {np.dtype(n).str: np.dtype(n) for n in _DTYPE_NAMES}
_SCALAR_TYPES: dict[type, np.dtype[Any]] = {np.dtype(n).type: np.dtype(n) for n in _DTYPE_NAMES}
_DTYPE_SET = frozenset(_DTYPES.values())


class WireError(BncheckError):
    """Data that is not a well-formed message (bad framing, type tag, dtype, shape or size)."""


class TooLarge(WireError):
    """An encoding would exceed its size limit; ``size`` is how far it got (a lower bound)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes exceed the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class TooMany(WireError):
    """A message holds more values than its limit: decoding stopped at the first one past it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} values")
        self.limit = limit


class TooSlow(WireError):
    """Decoding a message did not finish before its deadline."""


class Unsupported:
    """A value that is not plain data, by the name of its type only."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<unsupported {self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unsupported) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(("Unsupported", self.type_name))


def type_name(obj: Any) -> str:
    """The name of obj's type; never fails (a hostile metaclass may define __name__)."""
    try:
        name = type(obj).__name__
        text = name if type(name) is str else "object"
    except BaseException:  # anything the target's metaclass does
        text = "object"
    return text[:_NAME_LIMIT]


# -- encoding ----------------------------------------------------------------------------------


def _span(
    shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int
) -> tuple[int, int] | None:
    """(offset of the first element, bytes spanned) of a strided array whose elements are
    distinct and aligned to its itemsize; None for any other layout (overlapping or broadcast
    axes, strides that are not whole items)."""
    if any(s % itemsize for s in strides):
        return None
    axes = sorted((abs(s), n) for n, s in zip(shape, strides, strict=True) if n > 1)
    reach = itemsize  # bytes covered by the axes taken so far
    for step, n in axes:
        if step < reach:
            return None
        reach = step * n
    low = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True))
    high = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True))
    return -low, high - low + itemsize


class _Encoder:
    def __init__(self, limit: int, strict: bool, layouts: bool = False) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.strict = strict
        self.layouts = layouts

    def reserve(self, n: int) -> None:
        if self.size + n > self.limit:
            raise TooLarge(self.size + n, self.limit)

    def add(self, data: bytes) -> None:
        self.reserve(len(data))
        self.parts.append(data)
        self.size += len(data)

    def text(self, tag: bytes, text: str) -> None:
        raw = text.encode("utf-8", "backslashreplace")
        self.reserve(len(raw) + 5)
        self.add(tag + _U32.pack(len(raw)))
        self.add(raw)

    def unsupported(self, name: str) -> None:
        if self.strict:
            raise WireError(f"{name} is not plain data")
        self.text(b"u", name[:_NAME_LIMIT])

    def value(self, obj: Any, depth: int) -> None:
        t = type(obj)
        if obj is None:
            self.add(b"N")
        elif t is bool:
            self.add(b"T" if obj else b"F")
        elif t is int:
            if -(1 << 63) <= obj < (1 << 63):
                self.add(b"i" + _I64.pack(obj))
            else:
                self.unsupported("int outside the 64-bit range")
        elif t is float:
            self.add(b"f" + _F64.pack(obj))
        elif t is str:
            self.text(b"s", obj)
        elif t is np.ndarray:
            self.array(obj)
        elif t in _SCALAR_TYPES or (
            isinstance(obj, np.generic) and t.__module__ == "numpy" and obj.dtype in _DTYPE_SET
        ):
            dt = np.dtype(obj.dtype.name)  # np.longlong and friends: their sized alias
            code = dt.str.encode("ascii")
            self.add(b"g" + bytes([len(code)]) + code + np.asarray(obj, dt).tobytes())
        elif t is list or t is tuple or t is dict:
            if depth >= MAX_DEPTH:
                self.unsupported(f"{t.__name__} nested deeper than {MAX_DEPTH}")
                return
            if t is dict:
                self.add(b"d" + _U32.pack(len(obj)))
                for key, item in obj.items():
                    if type(key) is str or type(key) is int:
                        self.value(key, depth + 1)
                    else:
                        self.unsupported(f"{type_name(key)} (as a dict key)")
                    self.value(item, depth + 1)
            else:
                self.add((b"l" if t is list else b"t") + _U32.pack(len(obj)))
                for item in obj:
                    self.value(item, depth + 1)
        else:
            self.unsupported(type_name(obj))

    def array(self, arr: np.ndarray[Any, Any]) -> None:
        dt = arr.dtype
        if dt.fields is None and dt.subdtype is None and dt.name in _DTYPE_NAMES:
            native = np.dtype(dt.name)
            if arr.ndim > MAX_NDIM:
                self.unsupported(f"ndarray with {arr.ndim} dimensions")
                return
            if self.layouts and arr.size > 0 and not arr.flags.c_contiguous:
                self.laid_out(arr, native)
                return
            self.reserve(arr.nbytes + 16 + 8 * arr.ndim)
            data = np.ascontiguousarray(arr, dtype=native)
            code = native.str.encode("ascii")
            head = b"a" + bytes([len(code)]) + code + bytes([data.ndim])
            head += b"".join(_U64.pack(n) for n in data.shape) + _U64.pack(data.nbytes)
            self.add(head)
            self.add(data.tobytes())
        elif dt.kind == "O" and arr.ndim == 0:
            self.unsupported(type_name(arr[()]))
        else:
            self.unsupported(f"ndarray of {dt.name}")

    def laid_out(self, arr: np.ndarray[Any, Any], native: np.dtype[Any]) -> None:
        """An array with its strides: the receiver rebuilds the same layout."""
        span = _span(arr.shape, arr.strides, arr.itemsize)
        if span is None or span[1] > _SPAN_FACTOR * arr.nbytes + _SPAN_SLACK:
            if self.strict:
                raise WireError(f"an array with strides {arr.strides} cannot be sent as laid out")
            self.layouts = False
            try:
                self.array(arr)
            finally:
                self.layouts = True
            return
        offset, size = span
        self.reserve(arr.nbytes + 32 + 16 * arr.ndim)
        code = native.str.encode("ascii")
        head = b"v" + bytes([len(code)]) + code + bytes([arr.ndim])
        head += b"".join(_U64.pack(n) for n in arr.shape)
        head += b"".join(_I64.pack(s) for s in arr.strides)
        head += _U64.pack(offset) + _U64.pack(size) + _U64.pack(arr.nbytes)
        self.add(head)
        self.add(np.ascontiguousarray(arr, dtype=native).tobytes())


def encode(obj: Any, *, limit: int = 1 << 62, strict: bool = False, layouts: bool = False) -> bytes:
    """Encode plain data; raises :class:`TooLarge` past ``limit`` bytes.

    A value that is not plain data becomes an :class:`Unsupported` marker, or with
    ``strict=True`` raises :class:`WireError` (for bncheck's own data, which must be plain).
    ``layouts=True`` sends arrays that are not C-contiguous with their strides (verify's
    requests to its target, decoded with ``decode(layouts=True)``); a layout that cannot be
    rebuilt (overlapping or broadcast axes) is then a WireError under ``strict``, else sent
    C-contiguous.
    """
    enc = _Encoder(limit, strict, layouts)
    enc.value(obj, 0)
    return b"".join(enc.parts)


# -- decoding ----------------------------------------------------------------------------------


class _Decoder:
    def __init__(
        self,
        data: bytes | memoryview,
        max_items: int | None,
        until: float | None,
        layouts: bool = False,
    ) -> None:
        self.layouts = layouts
        self.view = memoryview(data)
        self.pos = 0
        self.left = math.inf if max_items is None else max_items
        self.max_items = max_items
        self.until = until
        self.clock = _CLOCK_EVERY

    def counted(self) -> None:
        """One more value: raises TooMany past the limit, TooSlow past the deadline."""
        self.left -= 1
        if self.left < 0:
            assert self.max_items is not None
            raise TooMany(self.max_items)
        self.clock -= 1
        if self.clock <= 0:
            self.clock = _CLOCK_EVERY
            if self.until is not None and time.monotonic() > self.until:
                raise TooSlow(f"decoding did not finish in time ({self.pos} bytes read)")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.view):
            raise WireError("truncated message")
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out

    def count(self, fmt: struct.Struct) -> int:
        value: int = fmt.unpack(self.take(fmt.size))[0]
        return value

    def text(self) -> str:
        n = self.count(_U32)
        return bytes(self.take(n)).decode("utf-8")

    def dtype(self) -> np.dtype[Any]:
        n = self.take(1)[0]
        code = bytes(self.take(n)).decode("ascii")
        dt = _DTYPES.get(code)
        if dt is None:
            raise WireError(f"dtype {code[:20]!r} is not allowed")
        return dt

    def items(self) -> int:
        n = self.count(_U32)
        if n > len(self.view) - self.pos:  # every item takes at least one byte
            raise WireError("container longer than the message")
        return n

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH + 1:
            raise WireError(f"nesting deeper than {MAX_DEPTH}")
        self.counted()
        tag = bytes(self.take(1))
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            return self.count(_I64)
        if tag == b"f":
            value: float = _F64.unpack(self.take(8))[0]
            return value
        if tag == b"s":
            return self.text()
        if tag == b"u":
            return Unsupported(self.text()[:_NAME_LIMIT])
        if tag == b"g":
            dt = self.dtype()
            return np.frombuffer(bytes(self.take(dt.itemsize)), dtype=dt)[0]
        if tag == b"a":
            return self.array()
        if tag == b"v":
            if not self.layouts:
                raise WireError("a laid-out array, which only verify's requests may hold")
            return self.laid_out()
        if tag in (b"l", b"t"):
            n = self.items()
            seq = [self.value(depth + 1) for _ in range(n)]
            return seq if tag == b"l" else tuple(seq)
        if tag == b"d":
            n = self.items()
            out: dict[Any, Any] = {}
            for _ in range(n):
                key = self.value(depth + 1)
                if type(key) not in (str, int, Unsupported):
                    raise WireError(f"dict key of type {type(key).__name__}")
                out[key] = self.value(depth + 1)
            return out
        raise WireError(f"unknown type tag {tag!r}")

    def array(self) -> np.ndarray[Any, Any]:
        dt = self.dtype()
        ndim = self.take(1)[0]
        if ndim > MAX_NDIM:
            raise WireError(f"array with {ndim} dimensions")
        shape = tuple(self.count(_U64) for _ in range(ndim))
        nbytes = self.count(_U64)
        size = math.prod(shape)
        if size * dt.itemsize != nbytes:
            raise WireError(f"array of shape {shape} and dtype {dt} cannot have {nbytes} bytes")
        raw = self.take(nbytes)
        if size == 0:
            if any(n > (1 << 40) for n in shape):
                raise WireError(f"array of shape {shape}")
            return np.zeros(shape, dt)
        return np.frombuffer(raw, dtype=dt, count=size).reshape(shape).copy()

    def laid_out(self) -> np.ndarray[Any, Any]:
        """An array in the layout it was sent in: a view of a fresh buffer (NaN, or 0 for
        integers and bools, between its elements) with the sender's strides."""
        dt = self.dtype()
        ndim = self.take(1)[0]
        if ndim > MAX_NDIM or ndim == 0:
            raise WireError(f"laid-out array with {ndim} dimensions")
        shape = tuple(self.count(_U64) for _ in range(ndim))
        strides = tuple(self.count(_I64) for _ in range(ndim))
        offset, span, nbytes = (self.count(_U64) for _ in range(3))
        size = math.prod(shape)
        if size == 0 or size * dt.itemsize != nbytes:
            raise WireError(f"array of shape {shape} and dtype {dt} cannot have {nbytes} bytes")
        if _span(shape, strides, dt.itemsize) != (offset, span):
            raise WireError(f"strides {strides} do not lay out shape {shape} in {span} bytes")
        if span > _SPAN_FACTOR * nbytes + _SPAN_SLACK:
            raise WireError(f"a buffer of {span} bytes for {nbytes} bytes of values")
        raw = self.take(nbytes)
        gap = np.nan if dt.kind == "f" else 0
        buffer = np.full(span // dt.itemsize, gap, dtype=dt)
        out: np.ndarray[Any, Any] = np.ndarray(
            shape, dt, buffer=buffer, offset=offset, strides=strides
        )
        out[...] = np.frombuffer(raw, dtype=dt, count=size).reshape(shape)
        return out


def decode(
    data: bytes | memoryview,
    *,
    max_items: int | None = MAX_ITEMS,
    until: float | None = None,
    layouts: bool = False,
) -> Any:
    """Decode what :func:`encode` produced, validating every tag, dtype, shape and length.

    Raises :class:`WireError` for anything else; never executes or imports anything. The
    values are counted as they are read: the first past ``max_items`` (None: no limit) raises
    :class:`TooMany`, and once ``until`` (``time.monotonic``) has passed :class:`TooSlow`, so
    a hostile message costs at most that many values' memory and time. Laid-out arrays are
    accepted only with ``layouts=True`` (the target process reading verify's requests).
    """
    dec = _Decoder(data, max_items, until, layouts)
    try:
        obj = dec.value(0)
    except WireError:
        raise
    except (
        ValueError,
        TypeError,
        OverflowError,
        IndexError,
        struct.error,
        RecursionError,
        MemoryError,
        UnicodeDecodeError,
    ) as exc:
        raise WireError(f"malformed message ({type(exc).__name__}: {exc})") from None
    if dec.pos != len(dec.view):
        raise WireError(f"{len(dec.view) - dec.pos} bytes after the message")
    return obj


def find_unsupported(obj: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str] | None:
    """The path to and type name of the first :class:`Unsupported` in decoded data, or None."""
    if isinstance(obj, Unsupported):
        return path, obj.type_name
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            found = find_unsupported(item, (*path, i))
            if found is not None:
                return found
    if isinstance(obj, dict):
        for key, item in obj.items():
            if isinstance(key, Unsupported):
                return (*path, key), key.type_name
            found = find_unsupported(item, (*path, key))
            if found is not None:
                return found
    return None
