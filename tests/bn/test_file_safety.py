"""Files and threads: save is atomic, load is bounded and always names the file, the batch
counter stays in range, a layer can be shared between threads, `bncheck report --out` does
not overwrite what it did not write (issue 12, rows 12-15, 17 and 18)."""

from __future__ import annotations

import copy
import errno
import io
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck import BatchNorm, BatchNormError, cli
from bncheck.bn.layer import FORMAT, MAX_BATCHES_TRACKED
from bncheck.report.build import HEADER
from tests.internals import safe_files

EXPECTS = "expected a .npz file written by bncheck.BatchNorm.save"


def trained(num_features: int = 3, seed: int = 0, **kwargs: Any) -> BatchNorm:
    bn = BatchNorm(num_features, **kwargs)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        bn(rng.normal(1.0, 2.0, size=(8, num_features)).astype(bn.dtype))
    return bn


def same_state(a: BatchNorm, b: BatchNorm) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return (
        sa.keys() == sb.keys()
        and all(
            np.array_equal(sa[k], sb[k]) and np.asarray(sa[k]).dtype == np.asarray(sb[k]).dtype
            for k in sa
        )
        and repr(a) == repr(b)
    )


# -- row 12: save is atomic ------------------------------------------------------------------


def _writer_that_fails_midway(exc: BaseException) -> Callable[..., None]:
    def savez(fh: Any, **arrays: Any) -> None:
        fh.write(b"PK\x03\x04" + b"\0" * 100)  # a partial archive, then the failure
        raise exc

    return savez


def _fail(exc: BaseException) -> Callable[..., None]:
    def call(*args: Any, **kwargs: Any) -> None:
        raise exc

    return call


SAVE_FAILURES: dict[str, tuple[str, Any, Callable[..., None]]] = {
    "disk full while writing": (
        "savez",
        np,
        _writer_that_fails_midway(OSError(errno.ENOSPC, "No space left on device")),
    ),
    "interrupted while writing": ("savez", np, _writer_that_fails_midway(KeyboardInterrupt())),
    "fsync fails": ("fsync", os, _fail(OSError(errno.EIO, "Input/output error"))),
    "rename fails": ("replace", os, _fail(OSError(errno.EXDEV, "Invalid cross-device link"))),
}


@pytest.mark.parametrize("temporary", ["anonymous", "named"])
@pytest.mark.parametrize("failure", SAVE_FAILURES.values(), ids=list(SAVE_FAILURES))
def test_a_save_that_fails_leaves_the_previous_file_intact_and_no_temporary_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: tuple[str, Any, Callable[..., None]],
    temporary: str,
) -> None:
    if temporary == "named":  # as on a system without anonymous files (O_TMPFILE)
        monkeypatch.setattr(safe_files, "_O_TMPFILE", 0)
    path = tmp_path / "bn.npz"
    old = trained(3, seed=1)
    old.save(path)
    attribute, module, replacement = failure
    monkeypatch.setattr(module, attribute, replacement)
    with pytest.raises((OSError, KeyboardInterrupt)):
        trained(3, seed=2).save(path)
    monkeypatch.undo()
    assert same_state(BatchNorm.load(path), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.npz"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs resource.setrlimit")
def test_a_save_over_the_file_size_limit_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    old = trained(3, seed=1)
    old.save(path)
    # A child process whose file-size limit (RLIMIT_FSIZE) is below the new file's size:
    # the write fails with EFBIG partway (Python ignores SIGXFSZ).
    script = f"""
import resource, sys
import numpy as np
from bncheck import BatchNorm
bn = BatchNorm(20000)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    bn.save({str(path)!r})
except OSError as exc:
    print("failed:", exc)
    sys.exit(0)
sys.exit("the save did not fail")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "failed:" in out.stdout
    assert same_state(BatchNorm.load(path), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.npz"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_process_killed_while_saving_leaves_a_file_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    # A child that saves two big layers in turn, as fast as it can, until it is killed.
    script = f"""
import sys
import numpy as np
from bncheck import BatchNorm
layers = [BatchNorm(300_000), BatchNorm(300_000, affine=False)]
layers[0].save({str(path)!r})
print("ready", flush=True)
k = 0
while True:
    k += 1
    layers[k % 2].save({str(path)!r})
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(0.3)
    finally:
        child.kill()
        child.wait()
    loaded = BatchNorm.load(path)  # one of the two layers, whole
    assert loaded.num_features == 300_000
    # the temporary name of a save cut short between linking and renaming may remain (a
    # window of microseconds), never anything else, and the next save removes it
    others = [p.name for p in tmp_path.iterdir() if p.name != "bn.npz"]
    assert len(others) <= 1 and all(n.startswith(".bncheck-") for n in others)
    loaded.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.npz"]


def test_a_successful_save_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    trained(3, seed=1).save(path)
    new = trained(3, seed=2)
    new.save(str(path))
    assert same_state(BatchNorm.load(path), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.npz"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    trained().save(path)
    path.chmod(0o640)
    trained(seed=3).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_save_through_a_symlink_replaces_its_target_not_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.npz"
    trained().save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    new = trained(seed=4)
    new.save(link)
    assert link.is_symlink()
    assert same_state(BatchNorm.load(target), new)


SAVE_PATHS: dict[str, tuple[Callable[[Path], Path], type[Exception], str]] = {
    "into a missing folder": (lambda d: d / "nope" / "bn.npz", FileNotFoundError, "nope"),
    "onto a folder": (lambda d: d, BatchNormError, "is a directory; expected the path of a"),
}


@pytest.mark.parametrize("case", SAVE_PATHS.values(), ids=list(SAVE_PATHS))
def test_saving_to_an_impossible_path_names_it_and_writes_nothing(
    tmp_path: Path, case: tuple[Callable[[Path], Path], type[Exception], str]
) -> None:
    make, error, pattern = case
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=pattern):
        trained().save(make(tmp_path))
    assert sorted(tmp_path.iterdir()) == before


# -- helpers to craft archives -----------------------------------------------------------------


def npy(shape: tuple[int, ...], descr: str, data: bytes) -> bytes:
    """A version 1.0 .npy entry whose header claims ``shape``, followed by ``data``."""
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def good_arrays(channels: int = 2, **config: Any) -> dict[str, Any]:
    """A good file's arrays for a layer of ``channels``; ``config`` overrides its config."""
    bn = trained(channels)
    cfg = bn._config() | config
    return {"format": np.array(FORMAT), "config": np.array(json.dumps(cfg))} | bn.state_dict()


def write_npz(path: Path, **arrays: Any) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def write_zip(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def npz_entries(arrays: dict[str, Any]) -> dict[str, bytes]:
    """The entries np.savez would write, as bytes (to edit before zipping)."""
    out: dict[str, bytes] = {}
    for key, value in arrays.items():
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
        out[f"{key}.npy"] = buf.getvalue()
    return out


@pytest.fixture
def bounded() -> Iterator[Callable[[], tuple[float, int]]]:
    """Start measuring; the returned function gives (seconds, peak traced bytes) so far."""
    tracemalloc.start()
    start = time.perf_counter()

    def measure() -> tuple[float, int]:
        return time.perf_counter() - start, tracemalloc.get_traced_memory()[1]

    yield measure
    tracemalloc.stop()


# -- row 13: load is bounded -------------------------------------------------------------------


@pytest.mark.parametrize("claimed", [300_000_000, 10**12], ids=["3e8", "1e12"])
def test_a_small_file_whose_config_claims_huge_num_features_fails_fast_and_small(
    tmp_path: Path, bounded: Callable[[], tuple[float, int]], claimed: int
) -> None:
    path = write_npz(tmp_path / "crafted.npz", **good_arrays(2, num_features=claimed))
    assert path.stat().st_size < 4096  # a few KB that claim gigabytes
    with pytest.raises(BatchNormError) as info:
        BatchNorm.load(path)
    seconds, peak = bounded()
    assert seconds < 1.0 and peak < 1 << 20, (seconds, peak)
    message = str(info.value)
    assert str(path) in message
    assert f"expected shape ({claimed},)" in message and "has shape (2,)" in message


def test_npy_headers_claiming_a_huge_shape_are_rejected_before_anything_is_allocated(
    tmp_path: Path, bounded: Callable[[], tuple[float, int]]
) -> None:
    n = 300_000_000
    entries = npz_entries(good_arrays(2, num_features=n))
    for key in ("running_mean", "running_var", "gamma", "beta"):
        entries[f"{key}.npy"] = npy((n,), "<f8", b"\0" * 16)  # claims 2.4 GB, holds 16 bytes
    path = write_zip(tmp_path / "crafted.npz", entries)
    with pytest.raises(BatchNormError) as info:
        BatchNorm.load(path)
    seconds, peak = bounded()
    assert seconds < 1.0 and peak < 1 << 20, (seconds, peak)
    assert str(path) in str(info.value)
    assert "shape (300000000,)" in str(info.value) and "2400000000 bytes" in str(info.value)


def test_unexpected_entries_are_rejected_without_decompressing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bounded: Callable[[], tuple[float, int]]
) -> None:  # `bounded` starts tracemalloc
    entries = npz_entries(good_arrays())
    entries["evil.npy"] = npy((4_000_000,), "<f8", bytes(32_000_000))  # 32 MB of zeros
    path = write_zip(tmp_path / "extra.npz", entries, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    del entries
    tracemalloc.reset_peak()  # measure from here: building the file took 32 MB
    start = time.perf_counter()
    with pytest.raises(BatchNormError, match=r"unexpected \['evil.npy'\]") as info:
        BatchNorm.load(path)
    assert time.perf_counter() - start < 1.0
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    assert str(path) in str(info.value)
    assert "evil.npy" not in opened


def _bzip2(path: Path) -> Path:
    return write_zip(path, npz_entries(good_arrays()), zipfile.ZIP_BZIP2)


def _huge_header(path: Path) -> Path:
    entries = npz_entries(good_arrays())
    entries["gamma.npy"] = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30)
    return write_zip(path, entries)


def _truncated_entry(path: Path) -> Path:
    entries = npz_entries(good_arrays())
    entries["beta.npy"] = entries["beta.npy"][:-4]
    return write_zip(path, entries)


def _replace(key: str, data: bytes) -> Callable[[Path], Path]:
    return lambda p: write_zip(p, npz_entries(good_arrays()) | {f"{key}.npy": data})


def _with_config(config: Any) -> Callable[[Path], Path]:
    return lambda p: write_npz(p, **good_arrays() | {"config": np.array(json.dumps(config))})


def _repeated(path: Path) -> Path:
    entries = npz_entries(good_arrays())
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
            zf.writestr("gamma.npy", entries["gamma.npy"])
    return path


GOOD_CONFIG = BatchNorm(2)._config()

# (id, make the file, regex the message must match besides the file name)
CRAFTED: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "a non-.npy entry",
        lambda p: write_zip(p, npz_entries(good_arrays()) | {"notes.txt": b"hi"}),
        r"unexpected \['notes.txt'\]",
    ),
    ("a repeated entry", _repeated, r"repeated \['gamma.npy'\]"),
    ("bzip2 entries", _bzip2, r"compression method 12; expected stored or deflated"),
    ("a 1 GiB .npy header", _huge_header, r"1073741824-byte \.npy header; expected at most"),
    ("an entry shorter than its header says", _truncated_entry, r"16 bytes of data, but holds 12"),
    ("an entry that is not .npy", _replace("gamma", b"hello world"), r"not a version 1 or 2 \.npy"),
    (
        "a header that does not parse",
        _replace("gamma", npy((2,), "nonsense", bytes(16))),
        r"not a readable \.npz file",
    ),
    ("format as a number", _replace("format", npy((), "<i8", bytes(8))), r"format=None; expected"),
    (
        "a 1 MB config",
        _replace("config", npy((), "<U300000", bytes(1_200_000))),
        r"missing or malformed 'config'",
    ),
    ("config a list", _with_config([1, 2]), r"missing or malformed 'config'"),
    ("config without num_features", _with_config({"axis": 1}), r"bad 'config'.*num_features=None"),
    (
        "config num_features a float",
        _with_config(GOOD_CONFIG | {"num_features": 3e8}),
        r"bad 'config'.*num_features=300000000.0 must be a positive int",
    ),
    (
        "config num_features 0",
        _with_config(GOOD_CONFIG | {"num_features": 0}),
        r"bad 'config'.*num_features=0 must be >= 1",
    ),
    (
        "config affine a string",
        _with_config(GOOD_CONFIG | {"affine": "yes"}),
        r"bad 'config'.*affine='yes'",
    ),
    (
        "config with an unknown setting",
        _with_config(GOOD_CONFIG | {"colour": "red"}),
        r"bad 'config'.*colour",
    ),
    (
        "config says no affine but gamma is there",
        _with_config(GOOD_CONFIG | {"affine": False}),
        r"unexpected \['beta', 'gamma'\]",
    ),
    (
        "counter a float",
        _replace("num_batches_tracked", npy((), "<f8", bytes(8))),
        r"\['num_batches_tracked'\] has shape \(\) and dtype float64; expected shape \(\) and an",
    ),
    (
        "counter an array",
        _replace("num_batches_tracked", npy((2,), "<i8", bytes(16))),
        r"\['num_batches_tracked'\] has shape \(2,\)",
    ),
    (
        "gamma big-endian",
        _replace("gamma", npy((2,), ">f8", bytes(16))),
        r"\['gamma'\] has shape \(2,\) and dtype >f8; expected shape \(2,\) and dtype float64",
    ),
]


@pytest.mark.parametrize(("make", "pattern"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_a_crafted_file_raises_a_batchnorm_error_naming_it(
    tmp_path: Path, make: Callable[[Path], Path], pattern: str
) -> None:
    path = make(tmp_path / "crafted.npz")
    with pytest.raises(BatchNormError, match=pattern) as info:
        BatchNorm.load(path)
    assert str(path) in str(info.value)


def test_a_file_written_by_savez_compressed_still_loads(tmp_path: Path) -> None:
    bn = trained(4)
    arrays = {"format": np.array(FORMAT), "config": np.array(json.dumps(bn._config()))}
    np.savez_compressed(tmp_path / "bn.npz", **arrays | bn.state_dict())
    assert same_state(BatchNorm.load(tmp_path / "bn.npz"), bn)


# -- row 14: the batch counter stays in the int64 range ----------------------------------------


@pytest.mark.parametrize(
    "counter",
    [np.uint64(2**64 - 1), np.uint64(2**63), np.int64(-1)],
    ids=["2**64-1", "2**63", "-1"],
)
def test_a_file_whose_counter_is_out_of_range_is_refused_at_load(
    tmp_path: Path, counter: Any
) -> None:
    path = write_npz(tmp_path / "bn.npz", **good_arrays() | {"num_batches_tracked": counter})
    with pytest.raises(BatchNormError) as info:
        BatchNorm.load(path)
    message = str(info.value)
    assert str(path) in message
    assert f"num_batches_tracked']={int(counter)};" in message
    assert "expected an int in [0, 9223372036854775807]" in message and "2**63 - 1" in message


@pytest.mark.parametrize(
    "counter",
    [2**64 - 1, np.uint64(2**64 - 1), 2**63, 2**100, -1, True, 1.0, np.array([1])],
    ids=["2**64-1", "uint64 2**64-1", "2**63", "2**100", "-1", "True", "1.0", "an array"],
)
def test_load_state_dict_refuses_a_counter_out_of_range_and_changes_nothing(
    counter: Any,
) -> None:
    bn = trained()
    before = bn.state_dict()
    with pytest.raises(BatchNormError, match=r"expected an int in \[0, 9223372036854775807\]"):
        bn.load_state_dict(bn.state_dict() | {"num_batches_tracked": counter})
    after = bn.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_the_largest_counter_loads_and_saves_and_training_past_it_is_refused(
    tmp_path: Path,
) -> None:
    path = write_npz(
        tmp_path / "bn.npz", **good_arrays() | {"num_batches_tracked": np.int64(2**63 - 1)}
    )
    bn = BatchNorm.load(path)
    assert bn.num_batches_tracked == MAX_BATCHES_TRACKED
    bn.save(path)  # no OverflowError
    before = bn.state_dict()
    x = np.random.default_rng(0).normal(size=(8, 2))
    with pytest.raises(BatchNormError, match=r"num_batches_tracked=9223372036854775807 cannot"):
        bn(x)
    after = bn.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    bn.eval()(x)  # eval mode counts nothing


def test_saving_a_counter_set_out_of_range_by_hand_fails_before_touching_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bn.npz"
    old = trained()
    old.save(path)
    bn = trained(seed=5)
    bn.num_batches_tracked = 2**64 - 1
    with pytest.raises(BatchNormError, match=r"num_batches_tracked'\]=18446744073709551615"):
        bn.save(path)
    assert same_state(BatchNorm.load(path), old)


# -- row 15: anything that is not a BatchNorm .npz ---------------------------------------------


def _plain_npy(path: Path) -> Path:
    np.save(path, np.ones(3))
    return path


def _truncated_zip(path: Path) -> Path:
    trained().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


NOT_NPZ: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a plain .npy file", _plain_npy, r"it is a single \.npy array"),
    ("a text file", lambda p: p.write_text("hello") and p, r"not a readable \.npz file"),
    ("an empty file", lambda p: (p.write_bytes(b""), p)[1], r"it is empty"),
    ("a truncated zip", _truncated_zip, r"not a readable \.npz file"),
    ("a folder", _folder, r"is a directory"),
    ("an empty zip", lambda p: write_zip(p, {}), r"format=None"),
]


@pytest.mark.parametrize(("make", "pattern"), [c[1:] for c in NOT_NPZ], ids=[c[0] for c in NOT_NPZ])
def test_loading_something_that_is_not_a_batchnorm_npz_names_the_file_and_what_it_expected(
    tmp_path: Path, make: Callable[[Path], Path], pattern: str
) -> None:
    path = make(tmp_path / "x.npy")
    with pytest.raises(BatchNormError, match=pattern) as info:
        BatchNorm.load(path)
    message = str(info.value)
    assert str(path) in message
    assert EXPECTS in message or "expected 'bncheck.BatchNorm/1'" in message


# -- row 17: threads ---------------------------------------------------------------------------


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Make the interpreter switch threads very often, to expose races."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def target(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_training_calls_on_one_layer_lose_no_update(
    frequent_switches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Widen the window between reading the running statistics and storing their update, so
    # that without the lock other threads would run inside it.
    real_update = bncheck.bn.layer.update_running

    def slow_update(*args: Any, **kwargs: Any) -> Any:
        new = real_update(*args, **kwargs)
        time.sleep(0.0005)
        return new

    monkeypatch.setattr(bncheck.bn.layer, "update_running", slow_update)
    bn = BatchNorm(3, convention="cumulative")
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=(4, 3, 4, 4)) for _ in range(4)]
    per_thread = 40

    def work(i: int) -> None:
        for _ in range(per_thread):
            bn(xs[i])

    run_threads(4, work)
    assert bn.num_batches_tracked == 4 * per_thread
    # cumulative: the running mean is the average of the batch means, whatever the order
    want = np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_mean, want, rtol=1e-12, atol=1e-14)


def test_a_forward_and_backward_under_the_lock_pair_up_while_other_threads_train(
    frequent_switches: None,
) -> None:
    bn = BatchNorm(3)
    bn.gamma = np.array([1.5, -0.5, 2.0])
    rng = np.random.default_rng(8)
    x_other = rng.normal(size=(6, 3))
    x, dy = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    _, cache = bncheck.batchnorm_forward(x, bn.gamma, bn.beta)
    want = bncheck.batchnorm_backward(dy, cache)
    stop = threading.Event()

    def work(i: int) -> None:
        if i > 0:
            while not stop.is_set():
                bn(x_other)
            return
        try:
            for _ in range(30):
                with bn.lock:
                    bn(x)
                    got = bn.backward(dy)
                for a, b in zip(got, want, strict=True):
                    np.testing.assert_array_equal(a, b)
        finally:
            stop.set()

    run_threads(3, work)


def test_threads_switching_modes_and_calling_backward_see_a_consistent_layer(
    frequent_switches: None,
) -> None:
    bn = BatchNorm(3)
    bn(np.random.default_rng(9).normal(size=(6, 3)))
    rng = np.random.default_rng(10)
    x, dy = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))

    def work(i: int) -> None:
        for k in range(100):
            if i == 0:
                bn.train(k % 2 == 0)
            else:
                bn(x)
                bn.backward(dy)  # never half a forward's state, never "before forward"
                bn.state_dict()

    run_threads(3, work)


def test_a_layer_with_its_lock_still_pickles_and_deep_copies() -> None:
    bn = trained()
    for other in (pickle.loads(pickle.dumps(bn)), copy.deepcopy(bn)):
        assert same_state(other, bn)
        assert other.lock is not bn.lock
        with other.lock:
            other(np.ones((4, 3)) * np.arange(4)[:, None])
        assert other.num_batches_tracked == bn.num_batches_tracked + 1


# -- row 18: bncheck report --out ---------------------------------------------------------------


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the report builders by a recorder: the --out checks run, nothing is built."""
    calls: list[Path] = []

    def build_all(out: Path, **kwargs: Any) -> list[Path]:
        calls.append(out)
        return []

    monkeypatch.setattr("bncheck.report.build.build_all", build_all)
    monkeypatch.setattr(cli, "_derive_code", list)
    return calls


REFUSED: list[tuple[str, dict[str, str], str]] = [
    ("an unrelated README.md", {"README.md": "# my project\n"}, "README.md"),
    ("a README.md with the header further down", {"README.md": "notes\n" + HEADER}, "README.md"),
    ("other files only", {"data.csv": "1,2\n"}, "data.csv"),
]


@pytest.mark.parametrize(("files", "named"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_report_refuses_an_out_folder_holding_files_it_did_not_write(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_build: list[Path],
    files: dict[str, str],
    named: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    assert cli.main(["report", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and named in err and "not a bncheck report folder" in err
    assert fake_build == []
    for name, text in files.items():
        assert (out / name).read_text(encoding="utf-8") == text


def test_report_refuses_an_out_path_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_build: list[Path]
) -> None:
    out = tmp_path / "file.md"
    out.write_text("keep me", encoding="utf-8")
    assert cli.main(["report", "--quick", "--out", str(out)]) == 2
    assert f"--out {out} is a file; expected a folder" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep me" and fake_build == []


ACCEPTED: dict[str, Callable[[Path], Path]] = {
    "a new folder": lambda d: d / "new" / "reports",
    "an empty folder": lambda d: d,
    "a bncheck report folder": lambda d: (
        (d / "README.md").write_text(HEADER + "# bncheck reports\n", encoding="utf-8") and d
    ),
}


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=list(ACCEPTED))
def test_report_writes_into_a_new_empty_or_bncheck_report_folder(
    tmp_path: Path, fake_build: list[Path], make: Callable[[Path], Path]
) -> None:
    out = make(tmp_path)
    assert cli.main(["report", "--quick", "--out", str(out)]) == 0
    assert fake_build == [out]


def test_report_without_out_uses_the_default_folder_which_is_a_report_folder(
    fake_build: list[Path],
) -> None:
    assert cli._out_refusal(cli.DEFAULT_REPORTS) is None
    assert cli.main(["report"]) == 0
    assert fake_build[0] == cli.DEFAULT_REPORTS
