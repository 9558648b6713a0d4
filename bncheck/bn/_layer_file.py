"""The file format of :meth:`BatchNorm.save` and :meth:`BatchNorm.load`: a ``.npz`` (zip)
archive of ``.npy`` entries, no pickles; written atomically, read bounded (every size checked
against the file before anything is decompressed or allocated). Both only ever touch regular
files (:mod:`bncheck.bn._safe_files`).

Plain data in and out: :func:`write_layer` takes a layer's config and state, :func:`read_layer`
returns them, and :mod:`bncheck.bn.layer` makes the layer; the one thing reading asks of the
layer, whether a saved config is valid, it asks through the function it is given."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from bncheck.bn._safe_files import open_regular, replace_atomically
from bncheck.bn._validation import BatchNormError, check_num_features, short_repr

__all__ = [
    "COUNTER_RANGE",
    "FORMAT",
    "MAX_BATCHES_TRACKED",
    "CheckConfig",
    "check_counter",
    "read_layer",
    "state_shapes",
    "write_layer",
]

#: Identifies the layout of a saved BatchNorm file; bump the number when it changes.
FORMAT = "bncheck.BatchNorm/1"

#: The largest ``num_batches_tracked`` a layer holds: it is saved as an int64.
MAX_BATCHES_TRACKED = 2**63 - 1
COUNTER_RANGE = f"[0, {MAX_BATCHES_TRACKED}] (0 to 2**63 - 1, an int64)"

#: What :meth:`BatchNorm.load` reads: a ``.npz`` (zip) archive of ``.npy`` entries.
_EXPECTS = "expected a .npz file written by bncheck.BatchNorm.save"
_NPY_MAGIC = b"\x93NUMPY"
_STATE_KEYS = ("running_mean", "running_var", "gamma", "beta", "num_batches_tracked")
_ENTRIES = ("format", "config", *_STATE_KEYS)
#: Longest 'format' and 'config' texts accepted (characters); save() writes about 200.
_MAX_TEXT = {"format": 64, "config": 4096}
#: Longest .npy header accepted (bytes); save() writes 128.
_MAX_NPY_HEADER = 4096
#: Deflate expands at most about 1032-fold: an entry claiming more is corrupt or crafted.
_MAX_DEFLATE_RATIO = 1100


def state_shapes(num_features: int, affine: bool) -> dict[str, tuple[int, ...]]:
    """The entries of a layer's state and their shapes."""
    keys = ["running_mean", "running_var"] + (["gamma", "beta"] if affine else [])
    return {k: (num_features,) for k in keys} | {"num_batches_tracked": ()}


def check_counter(value: object, source: str) -> int:
    """num_batches_tracked as an int in [0, 2**63 − 1] (what an int64 holds)."""
    n: int | None = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        n = int(value)
    elif isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        n = int(value)
    if n is None or not 0 <= n <= MAX_BATCHES_TRACKED:
        shown = n if n is not None else short_repr(value)
        raise BatchNormError(
            f"{source}['num_batches_tracked']={shown}; expected an int in {COUNTER_RANGE}"
        )
    return n


# -- reading ------------------------------------------------------------------------------------


#: Checks a saved config's settings but num_features (TypeError or ValueError if one is bad)
#: and returns the layer's affine and dtype: what the state entries must then be.
CheckConfig = Callable[[dict[str, Any]], tuple[bool, np.dtype[Any]]]


def read_layer(name: str, check_config: CheckConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """:meth:`BatchNorm.load`: the config and state in the file ``name``, read bounded."""
    try:
        with os.fdopen(open_regular(name, _EXPECTS), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise BatchNormError(f"{name}: not a readable .npz file (it is empty); {_EXPECTS}")
            if fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                raise BatchNormError(
                    f"{name}: not a readable .npz file (it is a single .npy array); {_EXPECTS}"
                )
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                return _from_archive(zf, name, size, check_config)
    except (FileNotFoundError, BatchNormError):
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        struct.error,
    ) as exc:
        raise BatchNormError(f"{name}: not a readable .npz file ({exc}); {_EXPECTS}") from exc


def _from_archive(
    zf: zipfile.ZipFile, name: str, size: int, check_config: CheckConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    infos = zf.infolist()
    counts = Counter(i.filename for i in infos)
    keys = [n[: -len(".npy")] if n.endswith(".npy") else n for n in counts]
    unknown = sorted(
        n for n in counts if not n.endswith(".npy") or n[: -len(".npy")] not in _ENTRIES
    )
    twice = sorted(n for n, k in counts.items() if k > 1)
    if unknown or twice:
        raise BatchNormError(
            f"{name} has entries {sorted(counts)}; expected only {sorted(_ENTRIES)} "
            "(as .npy arrays)"
            + (f" (unexpected {unknown})" if unknown else "")
            + (f" (repeated {twice})" if twice else "")
        )
    infos_by_key = {i.filename[: -len(".npy")]: i for i in infos}

    def entry(key: str) -> _Entry | None:
        info = infos_by_key.get(key)
        return None if info is None else _Entry(zf, info, name, size)

    fmt = _read_text(entry("format"), "format")
    if fmt != FORMAT:
        raise BatchNormError(
            f"{name}: format={fmt!r}; expected {FORMAT!r} "
            "(a file written by bncheck.BatchNorm.save)"
        )
    raw = _read_text(entry("config"), "config")
    try:
        config = json.loads(raw) if raw is not None else None
    except ValueError as exc:
        raise BatchNormError(f"{name}: bad 'config' entry ({exc})") from exc
    if not isinstance(config, dict):
        raise BatchNormError(f"{name}: missing or malformed 'config' entry")
    try:
        c = check_num_features(config.get("num_features"))
        affine, dtype = check_config(config)
    except (TypeError, ValueError) as exc:
        raise BatchNormError(f"{name}: bad 'config' entry ({exc})") from exc
    expected = state_shapes(c, affine)
    present = sorted(k for k in keys if k not in ("format", "config"))
    missing = sorted(set(expected) - set(present))
    extra = sorted(set(present) - set(expected))
    if missing or extra:
        raise BatchNormError(
            f"{name} has keys {present}; expected {sorted(expected)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    # The recorded shapes must match the config (num_features) before anything of that
    # size is allocated; _Entry has already checked them against the file's size.
    entries: dict[str, _Entry] = {}
    for key, shape in expected.items():
        e = entries[key] = _Entry(zf, infos_by_key[key], name, size)
        if key == "num_batches_tracked":
            ok = e.shape == () and e.dtype.kind in "iu" and e.dtype.itemsize <= 8
            want = "shape () and an integer dtype (int64)"
        else:
            ok = e.shape == shape and e.dtype == dtype
            want = f"shape {shape} and dtype {dtype.name}"
        if not ok:
            raise BatchNormError(
                f"{name}[{key!r}] has shape {e.shape} and dtype {e.dtype}; expected {want}"
            )
    return config, {key: entries[key].read() for key in expected}


# -- files -------------------------------------------------------------------------------------


class _Entry:
    """One ``.npy`` entry of an archive: its header read and checked, its data not yet read.

    The header's shape and dtype must account for exactly the entry's uncompressed size, and
    that size must be backed by the compressed bytes in the file (a stored entry holds them
    as they are; deflate expands at most about 1032-fold).
    """

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, size: int) -> None:
        self.zf, self.info = zf, info
        self.key = info.filename[: -len(".npy")]
        where = f"{name}: not a readable .npz file (entry {self.key!r}"
        if info.flag_bits & 0x1:
            raise BatchNormError(f"{where} is encrypted); {_EXPECTS}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BatchNormError(
                f"{where} uses zip compression method {info.compress_type}; expected stored "
                f"or deflated); {_EXPECTS}"
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if (
            info.header_offset + info.compress_size > size
            or (stored and info.compress_size != info.file_size)
            or info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024
        ):
            raise BatchNormError(
                f"{where} claims {info.file_size} bytes, more than the {size}-byte file holds: "
                f"truncated or crafted); {_EXPECTS}"
            )
        with zf.open(info) as fh:
            head = _read_exact(fh, len(_NPY_MAGIC) + 2)
            if head[: len(_NPY_MAGIC)] != _NPY_MAGIC or head[-2:] not in (b"\x01\x00", b"\x02\x00"):
                raise BatchNormError(f"{where} is not a version 1 or 2 .npy array); {_EXPECTS}")
            width = 2 if head[-2] == 1 else 4
            length_bytes = _read_exact(fh, width)
            length = int.from_bytes(length_bytes, "little")
            if length > _MAX_NPY_HEADER:
                raise BatchNormError(
                    f"{where} has a {length}-byte .npy header; expected at most "
                    f"{_MAX_NPY_HEADER}); {_EXPECTS}"
                )
            header = io.BytesIO(length_bytes + _read_exact(fh, length))
        read_header = (
            np.lib.format.read_array_header_1_0
            if width == 2
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(header)
        if dtype.hasobject:
            raise BatchNormError(
                f"{where} holds pickled Python objects; no pickles are loaded); {_EXPECTS}"
            )
        self.shape: tuple[int, ...] = tuple(shape)
        self.fortran = bool(fortran)
        self.dtype: np.dtype[Any] = dtype
        self.offset = len(_NPY_MAGIC) + 2 + width + length
        self.nbytes = math.prod(self.shape) * dtype.itemsize
        if any(n < 0 for n in self.shape) or self.offset + self.nbytes != info.file_size:
            raise BatchNormError(
                f"{where} has a header for shape {self.shape} and dtype {dtype}, "
                f"{self.nbytes} bytes of data, but holds {info.file_size - self.offset}); "
                f"{_EXPECTS}"
            )

    def read(self) -> NDArray[Any]:
        """The entry's array (its size was checked against the file in ``__init__``)."""
        with self.zf.open(self.info) as fh:
            _read_exact(fh, self.offset)
            data = _read_exact(fh, self.nbytes)
        flat = np.frombuffer(data, dtype=self.dtype)
        return flat.reshape(self.shape, order="F" if self.fortran else "C")


def _read_text(entry: _Entry | None, key: str) -> str | None:
    """The text of the 'format' or 'config' entry; None if missing or not a short text."""
    if entry is None:
        return None
    limit = _MAX_TEXT[key]
    if entry.shape != () or entry.dtype.kind != "U" or entry.dtype.itemsize > 4 * limit:
        return None
    return str(entry.read()[()])


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    parts: list[bytes] = []
    left = n
    while left > 0:
        chunk = fh.read(min(left, 1 << 24))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {n - left}")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def write_layer(name: str, config: dict[str, Any], state: dict[str, Any]) -> None:
    """:meth:`BatchNorm.save`: a layer's config and state (as ``state_dict()`` gives it, the
    counter checked) written to ``name`` in the format :func:`read_layer` reads, atomically and
    onto a regular file only (through a symlink, to its target): see
    :func:`bncheck.bn._safe_files.replace_atomically`."""
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "config": np.array(json.dumps(config, sort_keys=True)),
    }
    arrays.update(state)
    arrays["num_batches_tracked"] = np.array(state["num_batches_tracked"], dtype=np.int64)

    def write(fh: IO[bytes]) -> None:
        np.savez(fh, **arrays)

    replace_atomically(name, write)
