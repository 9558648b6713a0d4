"""The state half of :class:`bncheck.bn.layer.BatchNorm`: state_dict, load_state_dict, save and
load (the file format itself is :mod:`bncheck.bn._layer_file`)."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bncheck.bn._layer_file import (
    FORMAT,
    _check_counter,
    _state_shapes,
    _write_atomically,
    read_layer,
)
from bncheck.bn.functional import BatchNormCache
from bncheck.exceptions import BatchNormError

if TYPE_CHECKING:
    from bncheck.bn.layer import BatchNorm

__all__ = ["LayerState"]

FloatArray = NDArray[np.floating[Any]]


class LayerState:
    """Mixin of :class:`~bncheck.bn.layer.BatchNorm`: copies, validated replacement and files
    of its configuration, parameters and running statistics (every public call holds the
    layer's lock)."""

    num_features: int
    axis: int
    eps: float
    momentum: float | None
    convention: str
    unbiased: bool | None
    affine: bool
    dtype: np.dtype[Any]
    gamma: FloatArray | None
    beta: FloatArray | None
    running_mean: FloatArray
    running_var: FloatArray
    num_batches_tracked: int
    _cache: BatchNormCache | None
    _eval_input: FloatArray | None
    _lock: threading.RLock

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
        """Copies of the learnable parameters and running statistics, plus the batch counter.

        Returns
        -------
        dict
            ``running_mean``, ``running_var`` (and ``gamma``, ``beta`` when affine): copies
            of the arrays; ``num_batches_tracked``: an int.

        Examples
        --------
        >>> from bncheck.bn import BatchNorm
        >>> sorted(BatchNorm(3).state_dict())
        ['beta', 'gamma', 'num_batches_tracked', 'running_mean', 'running_var']
        """
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

        Parameters
        ----------
        state : dict
            Keys exactly those of :meth:`state_dict`, arrays of shape (num_features,) and
            of this layer's dtype, finite, running_var >= 0; num_batches_tracked an int in
            [0, 2**63 − 1].
        source : str
            How error messages name ``state`` (:meth:`load` passes the file name).

        Raises
        ------
        TypeError
            ``state`` is not a dict.
        BatchNormError
            Any key, shape, dtype or value outside the above; the layer is then unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> trained = BatchNorm(2)
        >>> y = trained(np.random.default_rng(0).standard_normal((8, 2)))
        >>> fresh = BatchNorm(2)
        >>> fresh.load_state_dict(trained.state_dict())
        >>> np.array_equal(fresh.running_var, trained.running_var), fresh.num_batches_tracked
        (True, 1)
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

        Only a regular file is ever written: the file is written to a temporary file in the
        same folder (on Linux an anonymous one, ``O_TMPFILE``, which has no name until it is
        complete), flushed to disk, then renamed over ``path``. If the save fails (full disk,
        file-size limit, an exception, the process killed) an existing file at ``path`` is
        left intact and no temporary file remains (where there are no anonymous files, a
        killed save's temporary file ``.bncheck-<hash>-<random>.tmp`` is removed by the next
        save to the same path). New files get the permissions ``open()`` gives (0o666 less
        the umask); a replaced file's permission bits are kept.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (conventionally ``.npz``; its folder must exist): a regular
            file or a new name, of any length the filesystem allows. A symlink is followed:
            its target is replaced.

        Raises
        ------
        OSError
            The file cannot be written (e.g. FileNotFoundError: no such folder).
        BatchNormError
            ``path`` (or the target of its symlinks) is not a regular file: a folder, a
            device, a FIFO, a socket; nothing is written. Or ``num_batches_tracked`` is not
            an int in [0, 2**63 − 1].

        Examples
        --------
        >>> import os, tempfile
        >>> from bncheck.bn import BatchNorm
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "bn.npz")
        ...     BatchNorm(3, convention="keras").save(path)
        ...     print(BatchNorm.load(path).convention)
        keras
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
        Only a regular file is read: a FIFO, a device, a folder or a socket is refused at
        once, without blocking.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save` (a symlink is followed).

        Returns
        -------
        BatchNorm
            A new layer with the saved configuration, parameters, running statistics and
            batch counter, in training mode.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        BatchNormError
            Anything else: not a regular file, not a readable ``.npz`` file, not written by
            :meth:`save`, or a bad entry; the message names the file.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from bncheck.bn import BatchNorm
        >>> bn = BatchNorm(3)
        >>> y = bn(np.random.default_rng(0).standard_normal((8, 3)))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     bn.save(os.path.join(folder, "bn.npz"))
        ...     loaded = BatchNorm.load(os.path.join(folder, "bn.npz"))
        >>> np.array_equal(loaded.running_mean, bn.running_mean), loaded.num_batches_tracked
        (True, 1)
        """
        from bncheck.bn.layer import BatchNorm

        if not issubclass(cls, BatchNorm):  # pragma: no cover - the mixin is BatchNorm's alone
            raise TypeError(f"{cls.__name__} is not a BatchNorm")
        return read_layer(cls, path)
