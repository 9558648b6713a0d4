"""Time the commands a user runs, against the previous run of the same command.

    .venv/bin/python benchmarks/bench_commands.py [--only report,tests,verify] [--repeat 1]

The commands, each in a fresh process from the repository root with this script's Python:

- ``report``: ``bncheck report --out DIR`` into a new temporary folder (the checkout's
  ``reports/`` is left alone; written there, the run also makes ``reports/quick/`` beside the
  full version and the generated reference code, a few seconds more);
- ``tests``: the README's test command, ``python -m pytest``, verbatim;
- ``verify``: a default ``bncheck verify bncheck.BatchNorm``.

For each it prints the wall-clock seconds (the minimum and the median of ``--repeat`` runs), the
CPU seconds of the command and its child processes, the machine (usable CPUs, load average,
which optional frameworks are installed), and the ratio of the minimum to the minimum of the
previous run of the same command on the same machine and Python, kept in ``--record`` (default
``$XDG_CACHE_HOME/bncheck/bench_commands.json``, outside the repository). A ratio below 1 is
faster. The load average is printed because the times include the waiting for the cores that a
shared machine's other processes cause. Nothing is asserted: this measures, it does not judge.
A command that fails is reported with its exit code and its output's last lines, and its time is
not recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("report", "tests", "verify")
FRAMEWORKS = ("torch", "jax", "flax", "keras")


def command(name: str, scratch: Path) -> list[str]:
    """The argument vector of a command; ``scratch`` is a new folder for its output."""
    py = sys.executable
    if name == "report":
        return [py, "-m", "bncheck", "report", "--out", str(scratch / "reports")]
    if name == "tests":
        return [py, "-m", "pytest"]
    if name == "verify":
        return [py, "-m", "bncheck", "verify", "bncheck.BatchNorm"]
    raise ValueError(f"command {name!r}; expected one of {COMMANDS}")


def run_once(name: str) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (the command and its children), exit code, output's tail."""
    with tempfile.TemporaryDirectory(prefix="bncheck-bench-") as tmp:
        argv = command(name, Path(tmp))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = "\n".join(proc.stdout.splitlines()[-15:])
    return wall, cpu, proc.returncode, tail


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def machine_key() -> str:
    """Which runs are comparable: the machine, the Python and the frameworks it has."""
    installed = [f for f in FRAMEWORKS if importlib.util.find_spec(f) is not None]
    return " | ".join(
        [
            f"{platform.node()} {platform.machine()} {usable_cpus()} CPUs",
            sys.executable,
            "frameworks: " + (", ".join(installed) or "none"),
        ]
    )


def load(record: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(record: Path, data: dict[str, dict[str, float]]) -> None:
    """Replace the record atomically (a killed run leaves the previous one)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=record.parent, prefix=".bench_commands.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, record)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_record() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bncheck" / "bench_commands.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(COMMANDS),
        help=f"commands to time, comma-separated (default: {','.join(COMMANDS)})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command (default 1)")
    parser.add_argument("--record", type=Path, default=default_record(), help="the record file")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown or not names:
        parser.error(f"--only {args.only!r}; expected names from {list(COMMANDS)}")
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}; expected a positive integer")
    key = machine_key()
    print(f"bench_commands on {key}")
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    data = load(args.record)
    previous = data.get(key, {})
    failed = False
    for name in names:
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu, code, tail = run_once(name)
            if code != 0:
                print(f"{name}: exit {code} after {wall:.1f} s; the output ends:\n{tail}\n")
                failed = True
                break
            walls.append(wall)
            cpus.append(cpu)
        else:
            best = min(walls)
            line = (
                f"{name:7s} {best:7.1f} s wall (min of {len(walls)}; median "
                f"{statistics.median(walls):.1f} s), {min(cpus):7.1f} s CPU, "
                f"{usable_cpus()} CPUs"
            )
            if name in previous:
                line += f"; {best / previous[name]:.2f}× the previous run ({previous[name]:.1f} s)"
            else:
                line += "; no previous run recorded"
            print(line, flush=True)
            previous[name] = best
            data[key] = previous
            save(args.record, data)
    print(f"\nrecord: {args.record}  (load average now: {os.getloadavg()[0]:.2f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
