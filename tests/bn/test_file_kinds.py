"""save and load touch regular files only (issue 21, parts 3 and 5): load refuses a FIFO, a
device, a folder or a socket promptly with a BatchNormError; save refuses to replace any of
them; its temporary file has a short name (so names up to the filesystem's limit work), is
invisible while written where the system has anonymous files, and is never left behind for
good when a save is killed."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bncheck import BatchNorm, BatchNormError
from tests.internals import safe_files
from tests.paths import REPO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, devices, SIGKILL")

EXPECTS = "expected a .npz file written by bncheck.BatchNorm.save"
#: How long a load or a child's start may take before the test calls it blocked.
DEADLINE = 60.0


def trained(num_features: int = 3, seed: int = 0) -> BatchNorm:
    bn = BatchNorm(num_features)
    bn(np.random.default_rng(seed).normal(1.0, 2.0, size=(8, num_features)))
    return bn


def assert_same_state(a: BatchNorm, b: BatchNorm) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and repr(a) == repr(b)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key])


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the kinds of files that are not regular files ----------------------------------------------


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_char_device(path: Path) -> Path:
    """A node like /dev/null (character device 1, 3); needs root (CAP_MKNOD)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    return path


def make_socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(path.parent)  # a relative name: a long tmp_path exceeds sun_path's 108 bytes
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
        sock.close()
    return path


def make_folder(path: Path) -> Path:
    path.mkdir()
    return path


def symlink_to(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.symlink_to(make(path.with_name("target")).name)
        return path

    return build


def the_null_device(path: Path) -> Path:
    return Path(os.devnull)


# (id, make the thing at the path given, the kind the message names)
LOAD_KINDS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a FIFO", make_fifo, "FIFO (named pipe)"),
    ("a symlink to a FIFO", symlink_to(make_fifo), "FIFO (named pipe)"),
    ("/dev/null", the_null_device, "character device"),
    ("a folder", make_folder, "directory"),
    ("a socket", make_socket, "socket"),
]

LOAD_IN_A_CHILD = """
import sys
from bncheck import BatchNorm, BatchNormError
try:
    BatchNorm.load(sys.argv[1])
except BatchNormError as exc:
    print(exc)
else:
    sys.exit("it loaded")
"""


@pytest.mark.parametrize(
    ("make", "kind"), [c[1:] for c in LOAD_KINDS], ids=[c[0] for c in LOAD_KINDS]
)
def test_load_refuses_what_is_not_a_regular_file_promptly_and_names_it(
    tmp_path: Path, make: Callable[[Path], Path], kind: str
) -> None:
    path = make(tmp_path / "bn.npz")
    # In a child with a deadline: a load that blocks (as on a FIFO) fails the test, not hangs it.
    try:
        out = subprocess.run(
            [sys.executable, "-c", LOAD_IN_A_CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"BatchNorm.load({str(path)!r}) still blocked after {DEADLINE} s")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{path} is a {kind}, not a regular file; {EXPECTS}"


def test_load_follows_a_symlink_to_a_regular_file(tmp_path: Path) -> None:
    bn = trained()
    bn.save(tmp_path / "real.npz")
    (tmp_path / "link.npz").symlink_to("real.npz")
    assert_same_state(BatchNorm.load(tmp_path / "link.npz"), bn)


# (id, make the thing at the path given, what the message says it is)
SAVE_KINDS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a device node like /dev/null", make_char_device, "is a character device"),
    ("a FIFO", make_fifo, "is a FIFO (named pipe)"),
    ("a socket", make_socket, "is a socket"),
    ("a folder", make_folder, "is a directory"),
    ("a symlink to a device node", symlink_to(make_char_device), "a character device"),
    ("a symlink to a FIFO", symlink_to(make_fifo), "a FIFO (named pipe)"),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int, int, int]]:
    """Each entry's kind and permissions, inode, device number and size, symlinks not followed."""
    out = {}
    for p in folder.iterdir():
        st = p.lstat()
        out[p.name] = (st.st_mode, st.st_ino, st.st_rdev, st.st_size)
    return out


@pytest.mark.parametrize(
    ("make", "kind"), [c[1:] for c in SAVE_KINDS], ids=[c[0] for c in SAVE_KINDS]
)
def test_save_refuses_to_replace_what_is_not_a_regular_file_and_changes_nothing(
    tmp_path: Path, make: Callable[[Path], Path], kind: str
) -> None:
    path = make(tmp_path / "bn.npz")
    before = snapshot(tmp_path)
    with pytest.raises(BatchNormError) as info:
        trained().save(path)
    message = str(info.value)
    assert message.startswith(f"path={str(path)!r} ") and kind in message
    assert "expected the path of a regular file or a new file name" in message
    assert snapshot(tmp_path) == before


# -- names as long as the filesystem allows -----------------------------------------------------


def test_a_name_as_long_as_the_filesystem_allows_saves_replaces_and_loads(tmp_path: Path) -> None:
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")  # 255 on ext4, xfs, btrfs, tmpfs
    path = tmp_path / ("b" * (name_max - len(".npz")) + ".npz")
    trained(seed=1).save(path)
    new = trained(seed=2)
    new.save(path)
    assert_same_state(BatchNorm.load(path), new)
    assert listing(tmp_path) == [path.name]


# -- permissions --------------------------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("temporary", ["anonymous", "named"])
def test_a_new_file_gets_the_permissions_open_gives_under_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, temporary: str
) -> None:
    if temporary == "named":
        monkeypatch.setattr(safe_files, "_O_TMPFILE", 0)
    with umask(0o027):
        trained().save(tmp_path / "bn.npz")
    assert stat.S_IMODE((tmp_path / "bn.npz").stat().st_mode) == 0o640


# -- a save killed with SIGKILL -----------------------------------------------------------------

#: A child that saves a layer to argv[1] and is paused in the save's fsync, when the whole
#: file has been written and not yet renamed; it says "paused" then and waits to be killed.
SAVE_AND_PAUSE = """
import os, sys, time
from bncheck import BatchNorm
if sys.argv[2] == "named":
    from tests.internals import safe_files
    safe_files._O_TMPFILE = 0
def paused(fd):
    print("paused", flush=True)
    time.sleep(600)
os.fsync = paused
BatchNorm(100_000, affine=False).save(sys.argv[1])
"""


@contextmanager
def paused_save(path: Path, temporary: str) -> Iterator[subprocess.Popen[str]]:
    """A child paused in the middle of saving to ``path``; killed with SIGKILL on leaving."""
    child = subprocess.Popen(
        [sys.executable, "-c", SAVE_AND_PAUSE, str(path), temporary],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "paused\n", "the child did not reach the save's fsync"
        yield child
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=DEADLINE)


def test_a_save_killed_mid_way_leaves_the_previous_file_and_nothing_else(tmp_path: Path) -> None:
    fd = safe_files._open_anonymous(str(tmp_path))
    if fd is None:
        pytest.skip("no anonymous files (O_TMPFILE) here: see the named-temporary test")
    os.close(fd)
    path = tmp_path / "bn.npz"
    old = trained(seed=1)
    old.save(path)
    with paused_save(path, "anonymous"):
        assert listing(tmp_path) == ["bn.npz"]  # the file being written has no name
    assert listing(tmp_path) == ["bn.npz"]
    assert_same_state(BatchNorm.load(path), old)


def test_with_named_temporaries_the_next_save_removes_what_a_killed_save_left_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safe_files, "_O_TMPFILE", 0)  # as on a system without O_TMPFILE
    path = tmp_path / "bn.npz"
    trained(seed=1).save(path)
    (tmp_path / "other.npz").write_bytes(b"not ours")
    with paused_save(path, "named"):
        live = [n for n in listing(tmp_path) if n not in ("bn.npz", "other.npz")]
        assert len(live) == 1 and live[0].startswith(".bncheck-") and live[0].endswith(".tmp")
        assert len(live[0]) == 38
        middle = trained(seed=2)
        middle.save(path)  # a save alongside a live one leaves the live one's file alone
        assert listing(tmp_path) == sorted(["bn.npz", "other.npz", *live])
        assert_same_state(BatchNorm.load(path), middle)
    assert listing(tmp_path) == sorted(["bn.npz", "other.npz", *live])  # the killed save's
    trained(seed=3).save(tmp_path / "other-name.npz")  # a save to another name leaves it too
    assert live[0] in listing(tmp_path)
    new = trained(seed=4)
    new.save(path)  # the next save of the same path removes it
    assert listing(tmp_path) == ["bn.npz", "other-name.npz", "other.npz"]
    assert_same_state(BatchNorm.load(path), new)
