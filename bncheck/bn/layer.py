"""The BatchNorm layer: parameters, running statistics, train/eval, save/load."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import secrets
import stat
import struct
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn._validation import (
    FLOAT_DTYPES,
    BatchNormError,
    _short,
    check_axis,
    check_float_array,
    check_ndim,
    check_num_features,
    check_positive_finite,
)
from bncheck.bn.functional import (
    BatchNormCache,
    BatchNormGrads,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    inference_backward,
)
from bncheck.bn.running import DEFAULT, get_convention, resolve_momentum, update_running

__all__ = ["FORMAT", "MAX_BATCHES_TRACKED", "BatchNorm"]

#: Identifies the layout of a saved BatchNorm file; bump the number when it changes.
FORMAT = "bncheck.BatchNorm/1"

#: The largest ``num_batches_tracked`` a layer holds: it is saved as an int64.
MAX_BATCHES_TRACKED = 2**63 - 1
_COUNTER_RANGE = f"[0, {MAX_BATCHES_TRACKED}] (0 to 2**63 - 1, an int64)"

FloatArray = NDArray[np.floating[Any]]

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


class BatchNorm:
    """Batch Normalization layer with running statistics.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    axis : int
        The channel axis of the inputs (1 for (N, C, ...), -1 for channels-last).
    eps : float > 0
        Added to the variance inside the square root.
    momentum : float in [0, 1], or None
        Running-statistics weight, in the convention's own meaning (see ``bncheck.bn.running``).
        Default: the convention's (torch 0.1, keras 0.99, cumulative None). None (torch,
        cumulative) means the cumulative average over all batches.
    convention : "torch", "keras" or "cumulative"
    unbiased : bool or None
        Store the unbiased m/(m−1)·sigma2_B as running variance; None: the convention's default.
    affine : bool
        Learnable gamma (ones) and beta (zeros); False means no scale and shift.
    dtype : float16, float32 or float64
        dtype of gamma, beta and the running statistics. Inputs of any float dtype are accepted;
        outputs have the input's dtype.

    Training normalizes with the biased batch variance (eq 7) and updates the running
    statistics; eval mode normalizes with the running statistics and changes no state. A call
    that raises changes no state. Inputs have 2 to 5 dimensions.

    Threads: a layer may be shared between threads. Each public call (``forward``/``__call__``,
    ``backward``, ``train``/``eval``, ``state_dict``/``load_state_dict``, ``save``) runs under
    the layer's :attr:`lock`, so it sees and leaves a consistent state and no running-statistics
    update is lost. ``backward`` differentiates the layer's last ``forward``, whichever thread
    made it: to pair a forward with its backward, hold the lock around both
    (``with bn.lock: y = bn(x); grads = bn.backward(dy)``; it is reentrant). Assigning
    attributes directly (``bn.gamma = ...``) is not locked.
    """

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = 1,
        eps: float = 1e-5,
        momentum: float | None = DEFAULT,
        convention: str = "torch",
        unbiased: bool | None = None,
        affine: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        c = check_num_features(num_features)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis={axis!r} must be an int (the channel axis)")
        eps_f = check_positive_finite("eps", eps)
        get_convention(convention)
        mom = resolve_momentum(convention, momentum)
        if unbiased is not None and not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"unbiased={unbiased!r} must be True, False or None")
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"affine={affine!r} must be True or False")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"dtype={dtype!r} is not a dtype; expected float16/32/64") from exc
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"dtype={dt} must be float16, float32 or float64")
        self.num_features = c
        self.axis = int(axis)
        self.eps = eps_f
        self.momentum = mom
        self.convention = convention
        self.unbiased = None if unbiased is None else bool(unbiased)
        self.affine = bool(affine)
        self.dtype = dt
        self.gamma: FloatArray | None = np.ones(c, dt) if affine else None
        self.beta: FloatArray | None = np.zeros(c, dt) if affine else None
        self.running_mean: FloatArray = np.zeros(c, dt)
        self.running_var: FloatArray = np.ones(c, dt)
        self.num_batches_tracked = 0
        self.training = True
        self._cache: BatchNormCache | None = None
        self._eval_input: FloatArray | None = None
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        """The layer's reentrant lock; every public stateful call holds it while it runs."""
        return self._lock

    def __getstate__(self) -> dict[str, Any]:
        # pickle and copy.deepcopy: everything but the lock (the copy gets a fresh one)
        with self._lock:
            state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- mode -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> BatchNorm:
        """Set training mode (``mode=False`` is eval mode); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode={mode!r} must be True or False")
        with self._lock:
            self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm:
        """Set eval mode: normalize with the running statistics, change no state."""
        return self.train(False)

    def __repr__(self) -> str:
        mom = "None" if self.momentum is None else repr(self.momentum)
        return (
            f"BatchNorm({self.num_features}, axis={self.axis}, eps={self.eps!r}, "
            f"momentum={mom}, convention={self.convention!r}, unbiased={self.unbiased}, "
            f"affine={self.affine}, dtype={self.dtype.name})"
        )

    # -- compute ----------------------------------------------------------------------------
    def _check_input(self, x: ArrayLike) -> FloatArray:
        xa = check_float_array("x", x)
        check_ndim("x", xa)
        ax = check_axis(self.axis, xa.ndim)
        if xa.shape[ax] != self.num_features:
            raise BatchNormError(
                f"x has shape {xa.shape} with {xa.shape[ax]} channels along axis={self.axis}"
                f"; expected num_features={self.num_features}"
            )
        return xa

    def __call__(self, x: ArrayLike) -> FloatArray:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> FloatArray:
        """Normalize ``x``: batch statistics in training (and update the running ones), running
        statistics in eval mode."""
        with self._lock:
            return self._forward(x)

    def _forward(self, x: ArrayLike) -> FloatArray:
        xa = self._check_input(x)
        if self.training and self.num_batches_tracked >= MAX_BATCHES_TRACKED:
            raise BatchNormError(
                f"num_batches_tracked={self.num_batches_tracked} cannot count another batch; "
                f"expected a value in {_COUNTER_RANGE} (reset it, or load a state)"
            )
        if not self.training:
            y = batchnorm_inference(
                xa, self.gamma, self.beta, self.running_mean, self.running_var,
                eps=self.eps, axis=self.axis,
            )  # fmt: skip
            self._cache, self._eval_input = None, xa.copy()
            return y
        y, cache = batchnorm_forward(xa, self.gamma, self.beta, eps=self.eps, axis=self.axis)
        new = update_running(
            self.running_mean, self.running_var, cache.mean, cache.var, cache.m,
            convention=self.convention, momentum=self.momentum, unbiased=self.unbiased,
            num_batches_tracked=self.num_batches_tracked,
        )  # fmt: skip
        # Everything that can fail has run: commit the new state at once.
        self.running_mean, self.running_var, self.num_batches_tracked = new
        self._cache, self._eval_input = cache, None
        return y

    def backward(self, dy: ArrayLike) -> BatchNormGrads:
        """Gradients (dx, dgamma, dbeta) for the last forward call, in its mode."""
        with self._lock:
            if self._cache is not None:
                return batchnorm_backward(dy, self._cache)
            if self._eval_input is not None:
                return inference_backward(
                    dy, self._eval_input, self.gamma, self.running_mean, self.running_var,
                    eps=self.eps, axis=self.axis, has_beta=self.beta is not None,
                )  # fmt: skip
        raise BatchNormError("backward() was called before forward(); call the layer on x first")

    # -- state ------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "axis": self.axis,
            "eps": self.eps,
            "momentum": self.momentum,
            "convention": self.convention,
            "unbiased": self.unbiased,
            "affine": self.affine,
            "dtype": self.dtype.name,
        }

    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        return _state_shapes(self.num_features, self.affine)

    def state_dict(self) -> dict[str, Any]:
        """Copies of the learnable parameters and running statistics, plus the batch counter."""
        with self._lock:
            d: dict[str, Any] = {
                "running_mean": self.running_mean.copy(),
                "running_var": self.running_var.copy(),
                "num_batches_tracked": int(self.num_batches_tracked),
            }
            if self.gamma is not None and self.beta is not None:
                d["gamma"] = self.gamma.copy()
                d["beta"] = self.beta.copy()
        return d

    def load_state_dict(self, state: dict[str, Any], *, source: str = "state") -> None:
        """Replace parameters and running statistics; validates everything before changing any.

        Keys must be exactly those of :meth:`state_dict`, arrays of shape (num_features,) and
        of this layer's dtype, finite, running_var >= 0; num_batches_tracked an int in
        [0, 2**63 − 1].
        """
        if not isinstance(state, dict):
            raise TypeError(f"{source}={type(state).__name__} must be a dict from state_dict()")
        expected = self._state_shapes()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise BatchNormError(
                f"{source} has keys {sorted(state)}; expected {sorted(expected)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {extra})" if extra else "")
            )
        new: dict[str, Any] = {}
        for key, shape in expected.items():
            if key == "num_batches_tracked":
                new[key] = _check_counter(state[key], source)
                continue
            value = np.asarray(state[key])
            if value.dtype != self.dtype or value.shape != shape:
                raise BatchNormError(
                    f"{source}[{key!r}] has shape {value.shape} and dtype {value.dtype}; "
                    f"expected shape {shape} and dtype {self.dtype.name}"
                )
            if not np.isfinite(value).all():
                raise BatchNormError(f"{source}[{key!r}] contains NaN or Inf; expected finite")
            new[key] = value.copy()
        if (new["running_var"] < 0).any():
            raise BatchNormError(f"{source}['running_var'] has negative entries; expected >= 0")
        with self._lock:
            self.running_mean = new["running_mean"]
            self.running_var = new["running_var"]
            self.num_batches_tracked = new["num_batches_tracked"]
            if self.affine:
                self.gamma, self.beta = new["gamma"], new["beta"]
            self._cache = self._eval_input = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write configuration and state to an ``.npz`` file (no pickles), atomically.

        The file is written to a temporary file in the same folder, flushed to disk, then
        renamed over ``path``: if the save fails (full disk, file-size limit, an exception,
        the process killed) an existing file at ``path`` is left intact, and a failure that
        Python sees removes the temporary file.
        """
        with self._lock:
            counter = _check_counter(self.num_batches_tracked, "layer")
            arrays: dict[str, Any] = {
                "format": np.array(FORMAT),
                "config": np.array(json.dumps(self._config(), sort_keys=True)),
            }
            arrays.update(self.state_dict())
        arrays["num_batches_tracked"] = np.array(counter, dtype=np.int64)
        _write_atomically(os.fspath(path), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BatchNorm:
        """Read a layer written by :meth:`save`; a bad file raises BatchNormError naming it.

        Bounded: the entry names, the config and the shapes recorded in the ``.npy`` headers
        are checked against each other and against the file's size before any array is
        decompressed or allocated, so a small crafted file cannot make it allocate much.
        A missing file raises FileNotFoundError.
        """
        name = os.fspath(path)
        if os.path.isdir(name):
            raise BatchNormError(f"{name} is a directory; {_EXPECTS}")
        try:
            with open(name, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise BatchNormError(f"{name}: not a readable .npz file (it is empty); "
                                         f"{_EXPECTS}")  # fmt: skip
                if fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                    raise BatchNormError(
                        f"{name}: not a readable .npz file (it is a single .npy array); {_EXPECTS}"
                    )
                fh.seek(0)
                with zipfile.ZipFile(fh) as zf:
                    return cls._from_archive(zf, name, size)
        except (FileNotFoundError, BatchNormError):
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError, struct.error) as exc:  # fmt: skip
            raise BatchNormError(f"{name}: not a readable .npz file ({exc}); {_EXPECTS}") from exc

    @classmethod
    def _from_archive(cls, zf: zipfile.ZipFile, name: str, size: int) -> BatchNorm:
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
            # Every other setting is validated on a one-channel layer: nothing large yet.
            proto = cls(**(config | {"num_features": 1}))
        except (TypeError, ValueError) as exc:
            raise BatchNormError(f"{name}: bad 'config' entry ({exc})") from exc
        expected = _state_shapes(c, proto.affine)
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
                ok = e.shape == shape and e.dtype == proto.dtype
                want = f"shape {shape} and dtype {proto.dtype.name}"
            if not ok:
                raise BatchNormError(
                    f"{name}[{key!r}] has shape {e.shape} and dtype {e.dtype}; expected {want}"
                )
        contents = {key: entries[key].read() for key in expected}
        layer = cls(**config)
        layer.load_state_dict(contents, source=name)
        return layer


def _state_shapes(num_features: int, affine: bool) -> dict[str, tuple[int, ...]]:
    keys = ["running_mean", "running_var"] + (["gamma", "beta"] if affine else [])
    return {k: (num_features,) for k in keys} | {"num_batches_tracked": ()}


def _check_counter(value: object, source: str) -> int:
    """num_batches_tracked as an int in [0, 2**63 − 1] (what an int64 holds)."""
    n: int | None = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        n = int(value)
    elif isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        n = int(value)
    if n is None or not 0 <= n <= MAX_BATCHES_TRACKED:
        shown = n if n is not None else _short(value)
        raise BatchNormError(
            f"{source}['num_batches_tracked']={shown}; expected an int in {_COUNTER_RANGE}"
        )
    return n


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
            np.lib.format.read_array_header_1_0 if width == 2
            else np.lib.format.read_array_header_2_0
        )  # fmt: skip
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


def _write_atomically(name: str, arrays: dict[str, Any]) -> None:
    """``np.savez(name, **arrays)``, atomically: a temporary file in the same folder, flushed
    and fsynced, then renamed over ``name`` (through a symlink, to its target)."""
    target = os.path.realpath(name)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a directory; expected a file path", name)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"folder {folder!r} does not exist", name)
    with _temporary_file(folder, os.path.basename(target)) as (tmp, fh):
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        with suppress(FileNotFoundError):  # keep the permissions of the file it replaces
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    _fsync_folder(folder)


@contextmanager
def _temporary_file(folder: str, base: str) -> Iterator[tuple[str, IO[bytes]]]:
    """A new file ``folder/.base.<random>.tmp`` (permissions as open() gives), removed if the
    block raises (anything, KeyboardInterrupt included) before renaming it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of a random name
        raise FileExistsError(errno.EEXIST, "cannot create a temporary file", folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield tmp, fh
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
