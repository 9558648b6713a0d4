"""Seconds of a default ``bncheck verify`` of each installed framework's BN, cold and warm, the
XLA compilations it made, and the ratio to the previous run of this script.

    python benchmarks/bench_verify_frameworks.py [--only flax.linen,torch] [--repeat 1]
        [--store PATH]

Each target is verified as a user runs it, ``python -m bncheck verify TARGET`` with the default
options, in a fresh process (so the framework's import, its compilations and bncheck's own
start-up are all counted). The table gives per target the verdict, the wall-clock seconds, the
CPU seconds of the verification's processes (verify, its supervisor and the target process: on
a machine shared with other work the wall clock mostly measures the other work, the CPU time
does not), the target from the issues (JAX family, tinygrad, MyGrad <= 10 s, PyTorch <= 8 s),
the load average when the target finished, the XLA compilations of a JAX-family target (and
the seconds JAX timed in them: wall clock, so inflated by the load like the wall column), and
the ratio of the wall clock and of the CPU time to the previous run stored at ``--store``
(default: bench_verify_frameworks.json in the user's cache folder), which this run then
replaces. With ``--repeat`` > 1 the minimum of the runs is taken.

Cold and warm: verify keeps JAX's compiled programs in a persistent compilation cache
(``--compile-cache``; docs/design.md, "The compilation cache"). Each run here starts with an
empty cache folder of its own (``BNCHECK_COMPILE_CACHE``; a ``JAX_COMPILATION_CACHE_DIR`` of the
caller's is removed from the environment, as it would win): the "cold" columns are a first
verification on a fresh machine, every program compiled. A JAX-family target is then verified
again with that folder, the "warm" columns: the same verification once its programs are
cached, as a user's second run is (the compilations column counts the cold run's).

The compilations are counted by a ``sitecustomize`` module this script writes into its own
temporary folder and puts first on ``PYTHONPATH`` (so every process of the verification,
the target process too, loads it): when JAX's monitoring module is imported it registers a
listener that appends each of JAX's compile events to a file in that folder; it imports
nothing itself and then loads any ``sitecustomize`` it shadowed. The folder is removed when
the script ends.

A framework that is not installed is listed as such; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

#: (name, target, modules it needs, environment, target seconds); a target needing "jax" is
#: also run warm
TARGETS: tuple[tuple[str, str, tuple[str, ...], dict[str, str], float], ...] = (
    ("torch", "torch.nn.BatchNorm1d", ("torch",), {}, 8.0),
    ("flax.linen", "flax.linen.BatchNorm", ("flax", "jax"), {}, 10.0),
    ("flax.nnx", "flax.nnx.BatchNorm", ("flax", "jax"), {}, 10.0),
    ("equinox", "equinox.nn.BatchNorm", ("equinox", "jax"), {}, 10.0),
    ("haiku", "haiku.BatchNorm", ("haiku", "jax"), {}, 10.0),
    (
        "keras-jax",
        "keras.layers.BatchNormalization",
        ("keras", "jax"),
        {"KERAS_BACKEND": "jax"},
        10.0,
    ),
    ("tinygrad", "tinygrad.nn.BatchNorm", ("tinygrad",), {}, 10.0),
    ("mygrad", "mygrad.nnet.batchnorm", ("mygrad",), {}, 10.0),
)

RESULTS = {0: "PASS", 1: "FAIL", 4: "INCOMPLETE"}

#: JAX's event for each program XLA compiles
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"

#: the environment variable naming the folder the listener writes to
EVENTS_ENV = "BNCHECK_BENCH_JAX_EVENTS"

#: loaded first by every Python process of a verification (see the module docstring)
SITECUSTOMIZE = textwrap.dedent(
    f"""\
    import importlib, importlib.abc, importlib.machinery, os, sys

    _FOLDER = os.environ.get({EVENTS_ENV!r})


    def _listen(event, duration, **kwargs):
        with open(os.path.join(_FOLDER, f"events-{{os.getpid()}}.txt"), "a") as f:
            f.write(f"{{event}} {{duration!r}}\\n")


    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "jax.monitoring":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                module.register_event_duration_secs_listener(_listen)

            spec.loader.exec_module = exec_module
            return spec


    if _FOLDER:
        sys.meta_path.insert(0, _Finder())
    _here = os.path.dirname(os.path.abspath(__file__))
    _kept = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    del sys.modules["sitecustomize"]
    try:  # the sitecustomize this one shadows, if any
        importlib.import_module("sitecustomize")
    except ImportError:
        pass
    finally:
        sys.path[:] = _kept
    """
)


def default_store() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "bncheck" / "bench_verify_frameworks.json"


def installed(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def compilations(folder: Path) -> tuple[int, float]:
    """(XLA compilations, their seconds) recorded in ``folder`` by the listener."""
    count, seconds = 0, 0.0
    for path in folder.glob("events-*.txt"):
        for line in path.read_text().splitlines():
            event, _, duration = line.rpartition(" ")
            if event == COMPILE_EVENT:
                count += 1
                seconds += float(duration)
    return count, seconds


def run_once(target: str, env: dict[str, str], hook: Path, cache: Path) -> dict[str, Any]:
    """The wall and CPU seconds of the processes, the exit code, the last line of the output,
    and the XLA compilations (``hook``: the folder holding the sitecustomize; ``cache``: the
    compilation cache folder)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as cwd,  # nothing of the working folder on the path
        tempfile.TemporaryDirectory() as events,
    ):
        path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
        base = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
        proc = subprocess.run(
            [sys.executable, "-m", "bncheck", "verify", target],
            cwd=cwd,
            env={
                **base,
                **env,
                "PYTHONPATH": path,
                EVENTS_ENV: events,
                "BNCHECK_COMPILE_CACHE": str(cache),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        count, seconds = compilations(Path(events))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return {
        "wall": wall,
        "cpu": cpu,
        "code": proc.returncode,
        "last": lines[-1] if lines else "",
        "compiles": count,
        "compile_s": seconds,
    }


def ratio(new: float, old: Any) -> str:
    return f"{new / old:.2f}" if isinstance(old, (int, float)) and old > 0 else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated names from the table")
    parser.add_argument("--repeat", type=int, default=1, help="runs per target (the minimum)")
    parser.add_argument("--store", type=Path, default=default_store(), help="previous run")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}; expected a whole number >= 1")
    names = [n for n in args.only.split(",") if n]
    known = {t[0] for t in TARGETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: unknown; expected some of {sorted(known)}")
    previous: dict[str, Any] = {}
    if args.store.exists():
        try:
            previous = json.loads(args.store.read_text())
        except (OSError, ValueError):
            previous = {}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    header = f"{'framework':<11} {'result':<11} {'cold s':>7} {'cpu s':>7} {'warm s':>7}"
    header += f" {'cpu s':>7} {'target':>7} {'load':>5} {'compiles':>8} {'xla s':>6}"
    print(header + f" {'cold/prev':>9} {'warm/prev':>9}")
    now: dict[str, Any] = dict(previous)
    with tempfile.TemporaryDirectory() as hook:
        (Path(hook) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        for name, target, modules, env, goal in TARGETS:
            if names and name not in names:
                continue
            if not installed(modules):
                print(f"{name:<11} not installed ({', '.join(modules)})")
                continue
            cold, warm = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as cache:
                    cold.append(run_once(target, env, Path(hook), Path(cache)))
                    if "jax" in modules:
                        warm.append(run_once(target, env, Path(hook), Path(cache)))
            wall = min(r["wall"] for r in cold)
            cpu = min(r["cpu"] for r in cold)
            code, last = cold[-1]["code"], cold[-1]["last"]
            count = min(r["compiles"] for r in cold)
            seconds = min(r["compile_s"] for r in cold)
            load = os.getloadavg()[0]
            result = RESULTS.get(code, f"exit {code}")
            old = previous.get(name, {})
            entry = {
                "wall": wall,
                "cpu": cpu,
                "result": result,
                "load": load,
                "compiles": count,
                "compile_s": seconds,
            }
            warm_text = f"{'-':>7} {'-':>7}"
            warm_ratio = "-"
            if warm:
                entry["warm_wall"] = min(r["wall"] for r in warm)
                entry["warm_cpu"] = min(r["cpu"] for r in warm)
                warm_text = f"{entry['warm_wall']:7.1f} {entry['warm_cpu']:7.1f}"
                warm_ratio = ratio(entry["warm_wall"], old.get("warm_wall"))
                if warm[-1]["code"] != code:
                    result += f"/{RESULTS.get(warm[-1]['code'], 'exit ' + str(warm[-1]['code']))}"
            print(
                f"{name:<11} {result:<11} {wall:7.1f} {cpu:7.1f} {warm_text} {goal:7.0f} "
                f"{load:5.1f} {count:8d} {seconds:6.1f} "
                f"{ratio(wall, old.get('wall')):>9} {warm_ratio:>9}"
            )
            if code not in RESULTS:
                print(f"    {last[:200]}")
            now[name] = entry
    args.store.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.store.with_suffix(".tmp")
    tmp.write_text(json.dumps(now, indent=1, sort_keys=True))
    os.replace(tmp, args.store)  # atomically: a stopped run leaves the previous one
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
