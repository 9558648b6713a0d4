"""Hostile and broken targets cannot fake a pass, hang verify or outlive it (issue 12, rows 1-10).

Most tests drive :class:`TargetProcess` directly with a tiny adapter written into ``tmp_path``
(forked, so no import of this module in the child), a few run ``python -m bncheck verify`` in a
subprocess (spawned children, the real adapters). The hostile behaviours are bounded (a 20 s
sleep rather than an hour) so that, on code without the protection, a test fails rather than
hangs.
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.cli import main
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed
from tests.adapter_files import load_adapter_file
from tests.internals import TargetProcess, frames, load_adapter, wire
from tests.paths import IMPLS, REPO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")

F = str(IMPLS / "functional.py")

ADAPTER = """
import os, sys, time
import numpy as np

class Adapter:
    def describe(self):
        return {"kind": "test", "running": False}

    def new(self, c, dtype, eps):
        return {"eps": eps}
"""


def _target(tmp_path: Path, body: str, *, name: str = "target.py") -> str:
    path = tmp_path / name
    path.write_text(ADAPTER + body, encoding="utf-8")
    return str(path)


@pytest.fixture
def procs() -> Iterator[list[TargetProcess]]:
    made: list[TargetProcess] = []
    yield made
    for proc in made:
        proc.close()


def _proc(
    procs: list[TargetProcess], path: str, *, timeout: float = 2.0, **kw: Any
) -> TargetProcess:
    kw.setdefault("start_method", "fork")
    proc = TargetProcess(functools.partial(load_adapter_file, path), timeout=timeout, **kw)
    procs.append(proc)
    return proc


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped yet counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _wait_dead(pids: list[int], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _cli(*args: str, timeout: float = 90.0, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "bncheck", "verify", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


# -- row 1: nothing the target returns is unpickled or run in the verify process ----------------

EVIL = """
class Evil:
    def __reduce__(self):
        return (os._exit, (0,))
"""


def test_row1_an_exit_on_unpickling_in_forward_is_a_failed_check(tmp_path: Path) -> None:
    path = tmp_path / "evil_forward.py"
    path.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward, compact_backward as backward\n"
        + EVIL
        + "def forward(x, g, b, eps):\n"
        "    y, cache = compact_forward(x, g, b, eps)\n"
        "    return Evil(), cache\n",
        encoding="utf-8",
    )
    out = _cli(str(path), "--ndims", "2", "--dtypes", "float64", "--timeout", "5")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "forward returned Evil; expected a NumPy array" in out.stdout
    assert "Traceback" not in out.stderr


def test_row1_an_exit_on_unpickling_in_a_layer_attribute_is_a_failed_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evil_layer.py"
    path.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from layers import Layer\n" + EVIL + "def factory(c):\n"
        "    layer = Layer(c)\n"
        "    layer.momentum = Evil()\n"
        "    return layer\n",
        encoding="utf-8",
    )
    out = _cli(f"{path}:factory", "--ndims", "2", "--dtypes", "float64", "--timeout", "5")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Evil" in out.stdout and "Result: FAIL" in out.stdout  # named, never unpickled
    assert "Traceback" not in out.stderr


def test_row1_the_pytest_fixture_fails_the_test_instead_of_ending_pytest(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    path = tmp_path / "evil_fixture.py"
    path.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward, compact_backward as backward\n"
        + EVIL
        + "def forward(x, g, b, eps):\n"
        "    return Evil(), None\n",
        encoding="utf-8",
    )
    pytester.makepyfile(
        f"""
        def test_evil(assert_batchnorm_correct):
            assert_batchnorm_correct({str(path)!r}, ndims=(2,), dtypes=("float64",))
        """
    )
    result = pytester.runpytest_subprocess("-p", "bncheck")
    result.assert_outcomes(failed=1)
    assert result.ret == 1


def test_row1_a_reduce_hook_never_runs_in_the_verify_process(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    marker = tmp_path / "ran-in-parent"
    path = _target(
        tmp_path,
        f"""
class Hook:
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))

Adapter.forward = lambda self, x, train: Hook()
Adapter.state = lambda self: {{"momentum": Hook(), "eps": 1e-5}}
""",
    )
    proc = _proc(procs, path)
    with pytest.raises(TargetError, match="forward returned Hook; expected a NumPy array"):
        proc.call("forward", np.zeros((4, 2)), True)
    with pytest.raises(TargetError, match="state returned Hook as momentum"):
        proc.call("state")
    assert not marker.exists()


# -- row 2: a call cannot hang verify past its timeout ------------------------------------------


def test_row2_a_reply_that_sleeps_when_unpickled_cannot_hang_the_call(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        """
class Sleepy:
    def __reduce__(self):
        return (time.sleep, (20,))

Adapter.forward = lambda self, x, train: [np.zeros(2), Sleepy()]
""",
    )
    proc = _proc(procs, path, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"forward returned Sleepy as \[1\]"):
        proc.call("forward", np.zeros((4, 2)), True)
    assert time.monotonic() - start < 5


def _writes_to_the_pipe(header: bytes) -> str:
    return f"""
import gc
from multiprocessing.connection import Connection

def forward(self, x, train):
    for obj in gc.get_objects():
        if isinstance(obj, Connection) and not obj.closed and obj.writable:
            try:
                os.write(obj.fileno(), {header!r})
            except OSError:
                pass
    time.sleep(20)
    os._exit(0)  # without the protection, the call fails (late) instead of hanging for ever

Adapter.forward = forward
"""


@pytest.mark.parametrize(
    "header",
    [
        frames.MAGIC + (1000).to_bytes(8, "big") + b"x" * 10,  # a frame that never completes
        (1000).to_bytes(4, "big") + b"x" * 10,  # multiprocessing's own framing
        b"\xff" * 4 + b"x" * 10,
    ],
    ids=["bncheck-frame", "mp-frame", "mp-huge-frame"],
)
def test_row2_a_partial_frame_then_a_sleep_fails_at_the_timeout(
    tmp_path: Path, procs: list[TargetProcess], header: bytes
) -> None:
    proc = _proc(procs, _target(tmp_path, _writes_to_the_pipe(header)), timeout=1.0)
    start = time.monotonic()
    with pytest.raises(TargetError) as info:
        proc.call("forward", np.zeros((4, 2)), True)
    assert info.value.fatal
    assert time.monotonic() - start < 5
    with pytest.raises(TargetError):  # later calls fail too
        proc.call("forward", np.zeros((4, 2)), True)
    assert time.monotonic() - start < 8


# -- row 3: an instance of the target's own class is named, not imported ------------------------


def test_row3_an_object_of_the_targets_own_class_is_a_failed_check(tmp_path: Path) -> None:
    path = tmp_path / "own_class.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward, compact_backward as backward\n"
        "class MyTensor:\n"
        "    pass\n"
        "def forward(x, g, b, eps):\n"
        "    y, cache = compact_forward(x, g, b, eps)\n"
        "    return MyTensor(), cache\n",
        encoding="utf-8",
    )
    report = verify(str(path), ndims=(2,), dtypes=("float64",), timeout=5)
    assert not report.passed
    messages = [c.message for c in report.failed]
    assert any("forward returned MyTensor; expected a NumPy array" in m for m in messages)


def test_row3_results_are_plain_data_or_markers(tmp_path: Path, procs: list[TargetProcess]) -> None:
    path = _target(
        tmp_path,
        """
class Mine:
    pass

class MyArray(np.ndarray):
    pass

def forward(self, x, train):
    return {
        "y": x * 2, "n": 3, "f": 0.5, "s": "text", "b": True, "none": None,
        "t": (np.float32(1.5), [np.int64(2)]), "mine": Mine(),
        "sub": np.zeros(2).view(MyArray), "c": np.zeros(2, complex), "o": np.array([Mine()]),
    }

Adapter.forward = forward
""",
    )
    proc = _proc(procs, path)
    x = np.arange(6.0).reshape(3, 2)
    with pytest.raises(TargetError, match="forward returned Mine as mine"):
        proc.call("forward", x, True)
    data = wire.decode(
        wire.encode(
            {"y": x, "t": (np.float32(1.5), [np.int64(2)]), "m": object(), "z": np.zeros((0, 3))}
        )
    )
    assert type(data["y"]) is np.ndarray and np.array_equal(data["y"], x)
    assert data["y"].flags.writeable
    assert type(data["t"]) is tuple and type(data["t"][0]) is np.float32
    assert data["m"] == wire.Unsupported("object") and data["z"].shape == (0, 3)


@pytest.mark.parametrize(
    "payload",
    [
        b"a\x03<c16\x01" + (1).to_bytes(8, "big") + (16).to_bytes(8, "big") + b"\0" * 16,
        b"a\x03<f8\x01" + (3).to_bytes(8, "big") + (16).to_bytes(8, "big") + b"\0" * 16,
        b"a\x03|O8\x00" + (8).to_bytes(8, "big") + b"\0" * 8,
        b"l" + (10**6).to_bytes(4, "big") + b"N",
        b"s" + (100).to_bytes(4, "big") + b"abc",
        b"NN",
        b"P",
        b"\x80\x04K\x01.",  # a pickle
    ],
    ids=[
        "complex",
        "shape-vs-bytes",
        "object",
        "long-list",
        "short-str",
        "trailing",
        "tag",
        "pickle",
    ],
)
def test_row3_decode_rejects_anything_but_valid_plain_data(payload: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(payload)


# -- row 4: odd values and forking targets give clean results ---------------------------------


@pytest.mark.parametrize("eps", ["[1e-5]", "-1", "'abc'", "float('nan')"])
def test_row4_a_layer_with_a_bad_eps_is_a_failed_check(tmp_path: Path, eps: str) -> None:
    path = tmp_path / "bad_eps.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from layers import Layer\n"
        "def factory(c):\n"
        "    layer = Layer(c)\n"
        f"    layer.eps = {eps}\n"
        "    return layer\n",
        encoding="utf-8",
    )
    report = verify(f"{path}:factory", ndims=(2,), dtypes=("float64",), timeout=5)
    assert not report.passed
    clean = ("the target's eps is", "the target failed while loading")  # the adapter may probe
    assert any(c.message.startswith(clean) for c in report.failed), [
        c.message for c in report.failed
    ]


def test_row4_a_target_that_forks_answers_once_per_call(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        """
def forward(self, x, train):
    os.fork()  # both copies return into bncheck's loop
    return x * 2

Adapter.forward = forward
""",
    )
    proc = _proc(procs, path)
    for k in range(4):
        x = np.full((2, 2), float(k))
        y, _ = proc.call("forward", x, True)
        assert np.array_equal(y, x * 2)


# -- row 5: nothing the target started outlives verify --------------------------------------------

# pids as this process sees them: the target may be in its own PID namespace, where os.getpid()
# and os.fork() give the namespace's numbers; /proc/self names the process in /proc's own.
HOST_PID = "int(os.readlink('/proc/self'))"

FORKS = f"""
def forward(self, x, train):
    r, w = os.pipe()
    if os.fork() == 0:
        os.write(w, str({HOST_PID}).encode() + b" ")
        time.sleep(20)
        os._exit(0)
    return int(os.read(r, 20))

Adapter.forward = forward
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_row5_processes_the_target_started_die_on_close(
    tmp_path: Path, procs: list[TargetProcess], method: str
) -> None:
    path = _target(tmp_path, FORKS)
    loader: Callable[[], Any] = functools.partial(load_adapter_file, path)
    if method == "spawn":  # the spawned child imports its loader: use one from bncheck
        path = str(tmp_path / "spawned.py")
        Path(path).write_text(
            "import os, sys, time\n"
            f"sys.path.insert(0, {str(IMPLS)!r})\n"
            "from functional import compact_forward, compact_backward as backward\n"
            "def forward(x, g, b, eps):\n"
            "    r, w = os.pipe()\n"
            "    if os.fork() == 0:\n"
            f"        os.write(w, str({HOST_PID}).encode() + b' ')\n"
            "        time.sleep(20)\n"
            "        os._exit(0)\n"
            "    return np.full((1,), float(os.read(r, 20))), None\n"
            "import numpy as np\n",
            encoding="utf-8",
        )
        loader = functools.partial(load_adapter, path)
    proc = TargetProcess(loader, timeout=5.0, start_method=method)
    procs.append(proc)
    proc.start()
    pgid = proc.pid
    assert pgid is not None
    if method == "spawn":
        proc.call("new", 2, "float64", 1e-5)
    pids = []
    for _ in range(3):
        result, _ = proc.call("forward", np.zeros((4, 2)), True)
        pids.append(int(np.asarray(result).ravel()[0]))
    assert all(_alive(p) for p in pids)
    assert len(_group(pgid)) >= 4  # the target and its children
    proc.close()
    assert _wait_dead(pids, 3.0) == []
    assert _group(pgid) == []


def test_row5_the_command_returns_without_waiting_for_orphans(tmp_path: Path) -> None:
    path = tmp_path / "forker.py"
    path.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward as forward_, compact_backward as backward\n"
        "def forward(x, g, b, eps):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return forward_(x, g, b, eps)\n",
        encoding="utf-8",
    )
    start = time.monotonic()
    out = _cli(str(path), "--ndims", "2", "--dtypes", "float64", timeout=45)
    assert out.returncode == 0, out.stdout + out.stderr
    assert time.monotonic() - start < 40


# -- row 6: the target dies with verify --------------------------------------------------------

KILLED_PARENT = """
import functools, sys
import numpy as np
sys.path.insert(0, {repo!r})
from tests.adapter_files import load_adapter_file
from tests.internals import TargetProcess, load_adapter

if __name__ == "__main__":
    method, path = sys.argv[1], sys.argv[2]
    loader = functools.partial(load_adapter if method == "spawn" else load_adapter_file, path)
    proc = TargetProcess(loader, timeout=600, start_method=method)
    proc.start()
    if method == "spawn":
        proc.call("new", 2, "float64", 1e-5)
    proc.call("forward", np.zeros((4, 2)), True)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_row6_the_target_dies_when_verify_is_killed(tmp_path: Path, method: str) -> None:
    pids = tmp_path / "pids"
    body = (
        "import os, sys, time\n"
        "import numpy as np\n"
        "def spin(x, *rest):\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        f"        os.write(w, str({HOST_PID}).encode() + b' ')\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    child = int(os.read(r, 20))\n"
        f"    me = {HOST_PID}\n"
        f"    with open({str(pids)!r}, 'w') as fh:\n"
        "        fh.write(f'{me} {child}')\n"
        "    end = time.monotonic() + 60\n"
        "    while time.monotonic() < end:\n"
        "        pass\n"
        "forward = spin\n"
        "def backward(dy, cache):\n"
        "    return None\n"
    )
    path = _target(tmp_path, body + "Adapter.forward = lambda self, x, train: spin(x)\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT.format(repo=str(REPO)), encoding="utf-8")
    env = dict(os.environ, TMPDIR=str(tmp))
    parent = subprocess.Popen([sys.executable, str(script), method, path], env=env)
    try:
        end = time.monotonic() + 30
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            assert time.monotonic() < end and parent.poll() is None, "the target did not start"
            time.sleep(0.05)
        target, child = (int(p) for p in pids.read_text().split())
        assert _alive(target) and _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert _wait_dead([target, child], 5.0) == []
        assert not any(tmp.iterdir())  # nothing left in the temporary directory
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# -- row 7: messages are truncated ------------------------------------------------------------


def test_row7_a_huge_exception_message_is_truncated(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        """
def forward(self, x, train):
    raise ValueError("x" * 20_000_000)

Adapter.forward = forward
""",
    )
    proc = _proc(procs, path, timeout=10.0)
    with pytest.raises(TargetError, match="forward raised ValueError: xxx") as info:
        proc.call("forward", np.zeros((4, 2)), True)
    text = str(info.value)
    assert len(text) < 5000 and "more characters" in text and "target.py" in text


def test_row7_a_huge_load_error_is_truncated(tmp_path: Path, procs: list[TargetProcess]) -> None:
    path = _target(tmp_path, "raise ValueError('y' * 20_000_000)\n")
    with pytest.raises(TargetLoadFailed) as info:
        _proc(procs, path).start()
    assert len(str(info.value)) < 5000 and len(info.value.traceback) < 10_000


# -- row 8: an overall deadline and a cap on result size ----------------------------------------


def test_row8_an_overall_deadline_stops_a_slow_target(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        """
def forward(self, x, train):
    time.sleep(0.9)
    return x

Adapter.forward = forward
""",
    )
    proc = _proc(procs, path, timeout=1.5, deadline=2.5)
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"overall deadline of 2\.5 s passed") as info:
        for _ in range(10):
            proc.call("forward", np.zeros((4, 2)), True)
    assert info.value.fatal
    assert time.monotonic() - start < 3.5
    with pytest.raises(TargetError, match="overall deadline"):
        proc.call("forward", np.zeros((4, 2)), True)
    assert time.monotonic() - start < 3.5


def test_row8_a_huge_result_is_a_failed_call(tmp_path: Path, procs: list[TargetProcess]) -> None:
    path = _target(
        tmp_path,
        """
def forward(self, x, train):
    return np.zeros(32 << 20)  # 256 MB

Adapter.forward = forward
""",
    )
    proc = _proc(procs, path, timeout=10.0)
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"forward returned 268.4 MB or more \(limit 67.1 MB\)"):
        proc.call("forward", np.zeros((4, 2)), True)
    assert time.monotonic() - start < 5


def test_row8_the_result_limit_is_settable(tmp_path: Path, procs: list[TargetProcess]) -> None:
    path = _target(tmp_path, "Adapter.forward = lambda self, x, train: np.zeros(1000)\n")
    with pytest.raises(TargetError, match=r"limit 0\.0 MB"):
        _proc(procs, path, result_limit=4000).call("forward", np.zeros(2), True)
    y, _ = _proc(procs, path, result_limit=9000).call("forward", np.zeros(2), True)
    assert y.shape == (1000,)


# -- row 9: bad timeouts are usage errors -------------------------------------------------------


@pytest.mark.parametrize("flag", ["--timeout", "--deadline", "--load-timeout", "--memory-limit"])
@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "abc"])
def test_row9_bad_limits_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", f"{F}:compact", "--ndims", "2", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {value!r}: expected a finite number of" in err


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": math.inf},
        {"timeout": math.nan},
        {"deadline": -1.0},
        {"memory_limit": 0},
        {"result_limit": 1.5},
    ],
)
def test_row9_target_process_rejects_bad_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="expected a"):
        TargetProcess(lambda: None, **kwargs)


# -- row 10: a memory limit --------------------------------------------------------------------


def test_row10_unbounded_allocation_hits_the_memory_limit(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        """
def forward(self, x, train):
    hoard = []
    while True:
        hoard.append(np.empty(256 << 20, np.uint8))

Adapter.forward = forward
""",
    )
    vm = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) << 10
    proc = _proc(procs, path, timeout=10.0, memory_limit=vm + (1 << 30))
    with pytest.raises(TargetError, match=r"raised MemoryError.*--memory-limit"):
        proc.call("forward", np.zeros(2), True)
    y, _ = proc.call("new", 2, "float64", 1e-5)  # the process is still usable
    assert y == {"eps": 1e-5}


# -- loading: the target's failure is not a usage error -----------------------------------------


def test_a_target_that_fails_while_loading_is_a_target_failure(
    tmp_path: Path, procs: list[TargetProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _target(tmp_path, "assert 1 + 1 == 3, 'arithmetic is broken'\n")
    with pytest.raises(TargetLoadFailed, match="AssertionError: arithmetic is broken") as info:
        _proc(procs, path).start()
    assert "target.py" in info.value.traceback and info.value.fatal
    bad_ctor = tmp_path / "bad_ctor.py"
    bad_ctor.write_text(
        "class Layer:\n    def __init__(self, c):\n        assert c > 10, 'too few channels'\n",
        encoding="utf-8",
    )
    assert main(["verify", f"{bad_ctor}:Layer"]) == 1
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "failed while loading: AssertionError: too few channels" in text
    assert "bad_ctor.py" in text


@pytest.mark.parametrize(
    "target", ["no_such_module_xyz", str(IMPLS / "no_protocol.py"), str(IMPLS / "missing.py")]
)
def test_usage_errors_stay_load_errors(target: str) -> None:
    proc = TargetProcess(functools.partial(load_adapter, target))
    with pytest.raises(LoadError) as info, proc:
        proc.start()
    assert not isinstance(info.value, TargetError)


def test_a_target_that_exits_while_loading_is_a_target_failure(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(tmp_path, "print('bye'); sys.stdout.flush(); os._exit(7)\n")
    with pytest.raises(TargetLoadFailed, match=r"exited \(code 7\) while loading.*bye"):
        _proc(procs, path).start()


def test_json_output_of_the_command_is_unchanged_by_the_limits(tmp_path: Path) -> None:
    out = _cli(
        f"{F}:compact",
        "--ndims",
        "2",
        "--dtypes",
        "float64",
        "--json",
        "--deadline",
        "100",
        "--memory-limit",
        "3000",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["passed"] is True


def test_row8_and_row10_the_command_passes_deadline_and_memory_limit(tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward, compact_backward as backward\n"
        "def forward(x, g, b, eps):\n"
        "    time.sleep(0.9)\n"
        "    return compact_forward(x, g, b, eps)\n",
        encoding="utf-8",
    )
    start = time.monotonic()
    out = _cli(str(slow), "--deadline", "3", "--ndims", "2", "--dtypes", "float64")
    assert out.returncode == 4, out.stdout + out.stderr  # checks not run: incomplete
    assert "the overall deadline of 3 s passed (--deadline)" in out.stdout
    assert "Result: INCOMPLETE" in out.stdout
    assert time.monotonic() - start < 20
    hog = tmp_path / "hog.py"
    hog.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "import numpy as np\n"
        "from functional import compact_forward, compact_backward as backward\n"
        "def forward(x, g, b, eps):\n"
        "    hoard = [np.empty(1 << 30, np.uint8) for _ in range(64)]  # untouched: fast\n"
        "    return compact_forward(x, g, b, eps)\n",
        encoding="utf-8",
    )
    out = _cli(str(hog), "--memory-limit", "2048", "--ndims", "2", "--dtypes", "float64")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "MemoryError" in out.stdout and "2048 MB" in out.stdout


# -- a hang: later calls fail at once, but a check beginning (new) starts the target afresh ------


def test_a_target_that_hung_is_started_afresh_at_the_next_new_a_bounded_number_of_times(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(
        tmp_path,
        "\n    def forward(self, x, train):\n"
        "        if x.shape[0] == 7:\n"
        "            time.sleep(60)\n"
        "        return x\n",
    )
    proc = _proc(procs, path, timeout=1.0)
    proc.start()
    cap = 2  # HANG_RESTARTS
    for k in range(cap + 1):
        proc.call("new", 2, "float64", 1e-5)  # starts the target afresh after a hang
        assert proc.call("forward", np.zeros((4, 2)), True)[0].shape == (4, 2)
        with pytest.raises(TargetError, match="did not return within 1 s"):
            proc.call("forward", np.zeros((7, 2)), True)
        # within the same check, nothing more runs: the hung target is not asked again
        with pytest.raises(TargetError, match="not run: the target hung earlier"):
            proc.call("forward", np.zeros((4, 2)), True)
        assert proc.hang_restarts == min(k, cap)
    with pytest.raises(TargetError, match="not run: the target hung earlier"):
        proc.call("new", 2, "float64", 1e-5)  # past the cap: never started again


def test_a_target_that_hangs_before_computing_anything_is_not_started_again(
    tmp_path: Path, procs: list[TargetProcess]
) -> None:
    path = _target(tmp_path, "\n    def forward(self, x, train):\n        time.sleep(60)\n")
    proc = _proc(procs, path, timeout=1.0)
    proc.start()
    proc.call("new", 2, "float64", 1e-5)
    with pytest.raises(TargetError, match="did not return within 1 s"):
        proc.call("forward", np.zeros((4, 2)), True)
    with pytest.raises(TargetError, match="not run: the target hung earlier"):
        proc.call("new", 2, "float64", 1e-5)  # it computed nothing: one timeout is all it costs
    assert proc.hang_restarts == 0
