"""A bounded in-process memo for the truths: the same inputs are never computed twice in one
process.

The truths (:func:`bncheck.check.truth.exact_batchnorm`, the double-double reference of the
verify engine) are pure functions of their arguments and cost seconds: about 10 µs per value in
mpmath. verify judges every target on the same seeded cases (the probes, the kernel cases, the
regimes), so a process that verifies several targets (``bncheck report``, a test session, a
notebook) would compute the same truths again for each. :func:`memoized` keeps the results of
the last calls, keyed by the exact values of every argument: each array by its dtype, its
shape and a BLAKE2b digest of its bytes in C order, every other argument by itself (it must be
hashable: a float, an int, None, a frozen dataclass). Any difference in any bit of any input is
another key. Results go out as copies, so a caller that writes into one cannot change what the
next caller gets. An exception is not kept: the next call raises it again.

The memo holds at most :data:`MAX_BYTES` of results, all memoized functions together, dropping
the least recently used; it lives and dies with the process and writes nothing anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["MAX_BYTES", "memoized"]

#: the most bytes of results the memo keeps, all memoized functions together (the largest
#: truth verify computes, y and dx of 2^18 float64 values, is 4 MiB; one verify's truths of
#: two dtypes and two ranks take about 70 MiB)
MAX_BYTES = 128 * 2**20

#: the results kept: (function, key) -> (result, bytes), least recently used first
_KEPT: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
_LOCK = threading.Lock()
_HELD = [0]

F = TypeVar("F", bound=Callable[..., Any])


def _key_part(value: Any) -> Any:
    """A hashable stand-in for one argument, equal only for equal values of equal dtype."""
    if isinstance(value, (np.ndarray, list, tuple)) and not _is_plain_tuple(value):
        arr = np.asarray(value)
        if arr.dtype.kind in "fiub":
            digest = hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=20)
            return ("array", arr.dtype.str, arr.shape, digest.digest())
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.item())
    hash(value)  # TypeError for an unhashable argument: the memo must not guess its identity
    return ("value", type(value).__name__, value)


def _is_plain_tuple(value: Any) -> bool:
    """A tuple of ints (an axis list, a shape) is a value, not an array."""
    return isinstance(value, tuple) and all(isinstance(v, int) for v in value)


def _copied(result: Any) -> Any:
    """The result with every array copied (a NamedTuple, a dict, an array or a plain value)."""
    if isinstance(result, np.ndarray):
        return result.copy()
    if isinstance(result, dict):
        return {k: _copied(v) for k, v in result.items()}
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*(_copied(v) for v in result))
    if isinstance(result, tuple):
        return tuple(_copied(v) for v in result)
    return result


def _size(result: Any) -> int:
    if isinstance(result, np.ndarray):
        return int(result.nbytes)
    if isinstance(result, dict):
        return sum(_size(v) for v in result.values())
    if isinstance(result, tuple):
        return sum(_size(v) for v in result)
    return 0


def memoized(function: F) -> F:
    """``function`` with its results kept for equal arguments (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.memo import memoized
    >>> calls = []
    >>> @memoized
    ... def total(x, *, scale=1.0):
    ...     calls.append(1)
    ...     return np.asarray(x).sum(keepdims=True) * scale
    >>> total(np.arange(3.0)).tolist(), total(np.arange(3.0)).tolist(), len(calls)
    ([3.0], [3.0], 1)
    >>> total(np.arange(3.0), scale=2.0).tolist(), total(np.arange(3, dtype=np.float32)).tolist()
    ([6.0], [3.0])
    >>> len(calls)  # another scale, another dtype: two more computations
    3
    >>> out = total(np.arange(3.0)); out[0] = -1.0  # a copy: the kept result is unchanged
    >>> total(np.arange(3.0)).tolist(), len(calls)
    ([3.0], 3)
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = (
            wrapper,
            tuple(_key_part(a) for a in args),
            tuple(sorted((k, _key_part(v)) for k, v in kwargs.items())),
        )
        with _LOCK:
            if key in _KEPT:
                _KEPT.move_to_end(key)
                return _copied(_KEPT[key][0])
        result = function(*args, **kwargs)
        size = _size(result)
        if size <= MAX_BYTES:
            with _LOCK:
                if key not in _KEPT:
                    _KEPT[key] = (_copied(result), size)
                    _HELD[0] += size
                while _HELD[0] > MAX_BYTES:
                    _, (_, dropped) = _KEPT.popitem(last=False)
                    _HELD[0] -= dropped
        return result

    return wrapper  # type: ignore[return-value]
