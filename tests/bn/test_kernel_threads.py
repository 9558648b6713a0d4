"""The compiled extension's threads and arguments (bncheck.bn._bn through bncheck.bn._compiled).

- thread counts 1, 2 and 3 give the same bytes, in every mode, and really run on that many
  OpenMP threads (``_compiled.last_threads``);
- the channel ranges tile the channels, one non-empty range per thread;
- a process forked after the parent ran the kernels on threads runs them too (GNU OpenMP hangs
  in such a child: the extension runs serially there), and the parent keeps its threads;
- every entry point checks its arguments (element type, layout, shape, writable outputs that
  overlap nothing, thread count) with an error naming the argument;
- the OpenMP runtime gets bncheck's spin count unless the user chose a wait policy, and the
  environment is left as it was.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from tests.internals import compiled as _native
from tests.layouts import misaligned
from tests.paths import REPO

FArray = NDArray[np.floating[Any]]


@pytest.fixture(autouse=True)
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """BNCHECK_NUM_THREADS is capped at the usable CPUs: pretend to have 8, so that splits into
    3 happen on any machine."""
    monkeypatch.setattr(_native, "_usable_cpus", lambda: 8)


def expected_threads(n: int) -> int:
    """Threads a call asked for n should run on: n with OpenMP, else 1."""
    return n if _native.openmp() else 1


def run_all(x: FArray, dy: FArray, axis: int) -> tuple[list[bytes], list[int]]:
    """Forward, backward and eval mode; their outputs as bytes, and the threads of each call."""
    rng = np.random.default_rng(3)
    c = x.shape[axis]
    gamma = rng.uniform(0.5, 2.0, c).astype(x.dtype)
    beta = rng.normal(size=c).astype(x.dtype)
    y, cache = bncheck.batchnorm_forward(x, gamma, beta, axis=axis)
    threads = [_native.last_threads]
    grads = bncheck.batchnorm_backward(dy, cache)
    threads.append(_native.last_threads)
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2.0, c)
    e = bncheck.batchnorm_inference(x, gamma, beta, rm, rv, axis=axis)
    threads.append(_native.last_threads)
    outs = [y, grads.dx, grads.dgamma, grads.dbeta, e]
    return [np.ascontiguousarray(a).tobytes() for a in outs], threads


SPLIT_SHAPES = {
    "(N, C) rows": ((6000, 37), 1),
    "(N, C, H, W) runs": ((8, 13, 40, 40), 1),
    "channels-last": ((9, 30, 30, 23), -1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape_axis", SPLIT_SHAPES.values(), ids=list(SPLIT_SHAPES))
def test_thread_counts_1_2_3_give_the_same_bytes_and_run_on_that_many_threads(
    monkeypatch: pytest.MonkeyPatch, dtype: Any, shape_axis: tuple[tuple[int, ...], int]
) -> None:
    shape, axis = shape_axis
    rng = np.random.default_rng(17)
    x = (50.0 + 4.0 * rng.standard_normal(shape)).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    # channels 1, 2 and the last get dy = x: the float32 backward redoes them in double-double
    for ch in (1, 2, shape[axis] - 1):
        index: list[Any] = [slice(None)] * len(shape)
        index[axis] = ch
        dy[tuple(index)] = x[tuple(index)]
    assert x.size >= _native.PARALLEL_MIN  # large enough to be split
    runs = {}
    for n in (1, 2, 3):
        monkeypatch.setenv("BNCHECK_NUM_THREADS", str(n))
        runs[n], threads = run_all(x, dy, axis)
        assert threads == [expected_threads(n)] * 3, f"asked for {n} threads, ran on {threads}"
    names = ["y", "dx", "dgamma", "dbeta", "eval y"]
    for n in (2, 3):
        differ = [name for name, a, b in zip(names, runs[1], runs[n], strict=True) if a != b]
        assert not differ, f"threads=1 vs {n}: {differ} differ"


@pytest.mark.parametrize("channels", [1, 2, 3, 7, 48, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_the_channel_ranges_tile_the_channels_one_per_thread(channels: int, threads: int) -> None:
    ranges = _native._ext().ranges(channels, threads)
    assert len(ranges) == min(channels, threads)
    assert ranges[0][0] == 0 and ranges[-1][1] == channels
    for (a, b), (c, _) in itertools.pairwise(ranges):
        assert a < b == c
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1  # balanced


def _digest(parts: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def test_a_forked_child_runs_the_kernels_after_the_parent_ran_them_on_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")  # pragma: no cover - Windows
    monkeypatch.setenv("BNCHECK_NUM_THREADS", "2")
    rng = np.random.default_rng(23)
    x = (1.0 + rng.standard_normal((4096, 48))).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    parent, threads = run_all(x, dy, 1)  # the parent's OpenMP threads exist from here on
    assert threads == [expected_threads(2)] * 3
    result = tmp_path / "child"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            child, child_threads = run_all(x, dy, 1)
            result.write_bytes(_digest(child) + bytes(child_threads))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120.0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in the kernels (OpenMP after fork)")
        time.sleep(0.02)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    got = result.read_bytes()
    assert got[:32] == _digest(parent), "the child computed other bytes than the parent"
    assert list(got[32:]) == [1, 1, 1]  # serial in the child
    # the parent still runs on threads, and computes the same bytes
    again, threads = run_all(x, dy, 1)
    assert threads == [expected_threads(2)] * 3
    assert again == parent


# -- arguments of the entry points -----------------------------------------------------------

C = 6
X = np.zeros((4, C, 5))


def vec(n: int = C) -> NDArray[np.float64]:
    return np.zeros(n)


def forward_args(**change: Any) -> list[Any]:
    """A valid argument list of _bn.forward, with some arguments replaced."""
    args: dict[str, Any] = {
        "x": X,
        "gamma": None,
        "beta": None,
        "eps": 1e-5,
        "threads": 1,
        "y": np.empty_like(X),
        "mean_hi": vec(),
        "mean_lo": vec(),
        "var": vec(),
        "inv_hi": vec(),
        "inv_lo": vec(),
    }
    args.update(change)
    return list(args.values())


def backward_args(**change: Any) -> list[Any]:
    args: dict[str, Any] = {
        "x": X,
        "dy": np.zeros_like(X),
        "mean_hi": vec(),
        "mean_lo": vec(),
        "var": vec(),
        "inv_hi": vec(),
        "inv_lo": vec(),
        "gamma": None,
        "eps": 1e-5,
        "amp_limit": 2.0**21,
        "refine": False,
        "threads": 1,
        "dx": np.empty_like(X),
        "dgamma": vec(),
        "dbeta": vec(),
    }
    args.update(change)
    return list(args.values())


def inference_args(**change: Any) -> list[Any]:
    args: dict[str, Any] = {
        "x": X,
        "gamma": None,
        "beta": None,
        "mean": vec(),
        "var": vec(),
        "eps": 1e-5,
        "threads": 1,
        "y": np.empty_like(X),
    }
    args.update(change)
    return list(args.values())


def _readonly(a: FArray) -> FArray:
    a.flags.writeable = False
    return a


_shared = np.zeros(2 * C)

#: (entry point, arguments, error type, regular expression the message must match)
BAD_ARGUMENTS: dict[str, tuple[str, list[Any], type, str]] = {
    "x float16": (
        "forward",
        forward_args(x=X.astype(np.float16)),
        TypeError,
        r"^x has element format 'e' \(2 bytes\); expected float32 or float64$",
    ),
    "x of ints": (
        "inference",
        inference_args(x=np.zeros((4, C, 5), dtype=np.int64)),
        TypeError,
        r"^x has element format '[lq]' \(8 bytes\)",
    ),
    "x 2-D": (
        "forward",
        forward_args(x=np.zeros((4, C))),
        ValueError,
        r"^x has 2 dimensions; expected 3, \(outer, C, inner\)$",
    ),
    "x not C-contiguous": (
        "forward",
        forward_args(x=np.zeros((5, C, 4)).transpose(2, 1, 0)),
        TypeError,
        r"^x=numpy.ndarray object \(.*\); expected a C-contiguous "
        r"array$",
    ),
    "x not an array": (
        "backward",
        backward_args(x=[1.0, 2.0]),
        TypeError,
        r"^x=list object .*expected a C-contiguous array$",
    ),
    "y read-only": (
        "forward",
        forward_args(y=_readonly(np.empty_like(X))),
        TypeError,
        r"^y=numpy.ndarray object .*expected a C-contiguous, writable array$",
    ),
    "y float32 for float64 x": (
        "inference",
        inference_args(y=np.empty(X.shape, np.float32)),
        TypeError,
        r"^y has element format 'f' \(4 bytes\); expected "
        r"float64$",
    ),
    "y of another shape": (
        "forward",
        forward_args(y=np.empty((4, C, 6))),
        ValueError,
        r"^y has shape \(4, 6, 6\); expected \(4, 6, 5\), the shape of x$",
    ),
    "dy of another dtype": (
        "backward",
        backward_args(dy=np.zeros(X.shape, np.float32)),
        TypeError,
        r"^dy has element format 'f' \(4 bytes\); expected "
        r"float64$",
    ),
    "mean_hi too short": (
        "backward",
        backward_args(mean_hi=vec(C - 1)),
        ValueError,
        r"^mean_hi has 1 dimensions and 5 values; expected a vector of 6, "
        r"one per channel$",
    ),
    "gamma float32": (
        "forward",
        forward_args(gamma=np.ones(C, np.float32)),
        TypeError,
        r"^gamma has element format 'f' \(4 bytes\); expected float64$",
    ),
    "var 2-D": (
        "inference",
        inference_args(var=np.zeros((C, 1))),
        ValueError,
        r"^var has 2 dimensions and 6 values; expected a vector of 6",
    ),
    "mean None": ("inference", inference_args(mean=None), TypeError, r"^mean=NoneType object"),
    "y is x": (
        "forward",
        forward_args(x=(xy := np.zeros((4, C, 5))), y=xy),
        ValueError,
        r"^y shares memory with x; expected separate arrays$",
    ),
    "outputs overlap": (
        "forward",
        forward_args(mean_hi=_shared[:C], mean_lo=_shared[C - 1 : -1]),
        ValueError,
        r"^mean_hi shares memory with mean_lo",
    ),
    # outputs and per-channel vectors are read and written as doubles (or the dtype): a
    # misaligned one would be undefined behaviour in C (x and dy may be misaligned: below)
    "y misaligned": (
        "forward",
        forward_args(y=misaligned(np.empty_like(X))),
        ValueError,
        r"^y is not aligned \(its data is at an address that is not a multiple of "
        r"8 bytes\); expected an aligned array$",
    ),
    "dx misaligned": (
        "backward",
        backward_args(dx=misaligned(np.empty_like(X))),
        ValueError,
        r"^dx is not aligned",
    ),
    "gamma misaligned": (
        "forward",
        forward_args(gamma=misaligned(vec())),
        ValueError,
        r"^gamma is not aligned",
    ),
    "var misaligned": (
        "inference",
        inference_args(var=misaligned(vec())),
        ValueError,
        r"^var is not aligned",
    ),
    "inv_lo misaligned": (
        "backward",
        backward_args(inv_lo=misaligned(vec())),
        ValueError,
        r"^inv_lo is not aligned",
    ),
    "mean_hi misaligned": (
        "forward",
        forward_args(mean_hi=misaligned(vec())),
        ValueError,
        r"^mean_hi is not aligned",
    ),
    "zero threads": (
        "backward",
        backward_args(threads=0),
        ValueError,
        r"^threads=0; expected a positive integer$",
    ),
    "an argument missing": (
        "inference",
        inference_args()[:-1],
        TypeError,
        r"inference\(\) takes at least 8 arguments \(7 given\)",
    ),
    "a checksum of ints": (
        "checksum",
        [X, 1, np.zeros(C, dtype=np.int32)],
        TypeError,
        r"^hash has element format 'i' \(4 bytes\); expected uint32$",
    ),
    "a checksum of the wrong length": (
        "forward",
        [*forward_args(), np.zeros(C + 1, dtype=np.uint32)],
        ValueError,
        r"^hash has 1 dimensions and 7 values; expected a vector of 6, one per channel$",
    ),
    "a checksum that is missing": (
        "checksum",
        [X, 1, None],
        TypeError,
        r"^hash=None; expected a uint32 vector of C values$",
    ),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_every_entry_point_checks_its_arguments_and_names_the_bad_one(
    case: tuple[str, list[Any], type, str],
) -> None:
    entry, args, error, message = case
    call: Callable[..., Any] = getattr(_native._ext(), entry)
    with pytest.raises(error, match=message):
        call(*args)


def test_the_valid_argument_lists_above_are_accepted() -> None:
    # so that each bad case above fails for its one bad argument
    ext = _native._ext()
    assert ext.forward(*forward_args()) == 1
    assert ext.backward(*backward_args())[2] == 1
    assert ext.inference(*inference_args()) == (True, 1)
    assert ext.checksum(X, 1, np.zeros(C, dtype=np.uint32)) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_x_and_dy_are_accepted_and_give_the_same_bytes(dtype: Any) -> None:
    # the kernels read x and dy byte-wise (memcpy), so a view at an odd byte offset is fine
    rng = np.random.default_rng(5)
    x, dy = (rng.normal(size=(7, C, 3)).astype(dtype) for _ in range(2))
    ext = _native._ext()
    out = []
    for xv, dyv in ((x, dy), (misaligned(x), misaligned(dy, readonly=True))):
        y, stats = np.empty_like(x), [vec() for _ in range(5)]
        ext.forward(xv, None, None, 1e-5, 1, y, *stats)
        dx, dgamma, dbeta = np.empty_like(x), vec(), vec()
        ext.backward(xv, dyv, *stats, None, 1e-5, 2.0**21, False, 1, dx, dgamma, dbeta)
        y_eval = np.empty_like(x)
        ext.inference(xv, None, None, stats[0], stats[2], 1e-5, 1, y_eval)
        out.append([a.tobytes() for a in (y, *stats, dx, dgamma, dbeta, y_eval)])
    assert out[0] == out[1]


# -- the OpenMP runtime's wait policy -----------------------------------------------------------

SHOW = (
    "import os; from tests.internals import compiled as c; assert c.available(); "
    "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
)


def _import_in_a_new_process(**env: str) -> tuple[str, str]:
    """stdout and stderr of a fresh Python importing the extension, GNU OpenMP showing its
    settings (OMP_DISPLAY_ENV)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**clean, "OMP_DISPLAY_ENV": "verbose", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return run.stdout.strip(), run.stderr


@pytest.mark.parametrize(
    "env, runtime_sees",
    [
        ({}, f"GOMP_SPINCOUNT = '{_native.GOMP_SPINCOUNT}'"),
        ({"GOMP_SPINCOUNT": "123"}, "GOMP_SPINCOUNT = '123'"),
        ({"OMP_WAIT_POLICY": "active"}, "OMP_WAIT_POLICY = 'ACTIVE'"),
    ],
    ids=["unset: bncheck's spin count", "the user's spin count", "the user's wait policy"],
)
def test_the_openmp_runtime_gets_a_short_spin_unless_the_user_chose_and_the_env_is_restored(
    env: dict[str, str], runtime_sees: str
) -> None:
    if not _native.openmp():
        pytest.skip("built without OpenMP: no runtime to configure")  # pragma: no cover
    stdout, stderr = _import_in_a_new_process(**env)
    assert runtime_sees in stderr, stderr
    # the process's environment afterwards: exactly what the user had
    assert stdout == f"{env.get('GOMP_SPINCOUNT')} {env.get('OMP_WAIT_POLICY')}"
