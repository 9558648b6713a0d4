"""The compiled kernels under AddressSanitizer and UndefinedBehaviorSanitizer.

    .venv/bin/python benchmarks/sanitize.py               # build, tests/bn, then the fuzz
    options: --cases N (fuzz cases, default 600), --seed S (default 0), --no-tests (the fuzz
             only), --keep (keep the scratch copy), --pytest-args "..." (instead of tests/bn)

Exit codes: 0 clean; 1 a sanitizer report (printed), a failing test or fuzz case, or a build
that fails; 2 a usage error; 77 skipped (the automake convention), with the reason on the last
line: not Linux, no ``gcc``, or gcc without its sanitizer runtimes (libasan, libubsan) or
unable to link a program with them.

What it does: the tracked and untracked-but-not-ignored files of the working tree are copied to
a scratch folder (the user's tree and its built extension are never touched), and the extension
is built there with gcc and

    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g

(added to setup.py's own flags through CFLAGS and LDFLAGS), and -O1 after setup.py's -O3
(``OPTIMIZE`` says why). Then, with the scratch copy first on
the path, it runs the BN tests (``tests/bn``, without the slow test that runs this script) and a
seeded fuzz through the public API (degenerate shapes first: empty batches and channels, one
value per channel; then ``batchnorm_forward``/``backward``,
``batchnorm_inference``, ``inference_backward`` and the ``BatchNorm`` layer, train and eval):
float16, float32, float64 and float32 x with float64 dy; ranks 2 to 5, any channel axis; x, dy
and the per-channel vectors each in a layout of ``tests/layouts.py`` (C, Fortran, negative
strides, stepped, transposed, misaligned at a random byte offset, broadcast, read-only); gamma
and beta or None; 1 to 3 threads, with arrays large enough (2^17 values) to run on them. Each
fuzz result must also be bitwise the result for a C-contiguous copy of the same values.

Running a sanitized extension in a Python that is not built with ASan needs, in the
environment of every process (this script sets them):

- ``LD_PRELOAD=<libasan.so> <libstdc++.so>`` (paths from ``gcc -print-file-name``): ASan's
  runtime must be the first library loaded, before the interpreter allocates anything (else it
  refuses to start); libstdc++ with it, since ASan looks up the real ``__cxa_throw`` once at
  start-up, and without libstdc++ loaded by then the first C++ exception thrown by another
  extension (matplotlib's, say) stops the process in an ASan CHECK. (A Python configured
  ``--with-address-sanitizer`` needs no preload; it is detected.)
- ``ASAN_OPTIONS=detect_leaks=0``: CPython keeps objects alive until exit by design, which
  LeakSanitizer would report as leaks of the interpreter, not of the kernels.
- ``log_path`` in ``ASAN_OPTIONS`` and ``UBSAN_OPTIONS``: reports are written to files in a
  folder of the scratch copy; any file there fails the run, and is printed. GCC's UBSan runtime
  ignores its ``log_path`` when ASan is loaded too (it starts as a plug-in of ASan, whose
  options are parsed by another copy of the common code) and writes to stderr, so pytest runs
  with ``--capture=no`` (its capture would lose a report when the sanitizer stops the process)
  and every child's output is also searched for reports (``runtime error:``, ``Sanitizer``).
- ``halt_on_error=1`` and ``print_stacktrace=1`` for UBSan, ``BNCHECK_KERNELS=compiled`` (no
  silent fallback to the NumPy kernels), and a probe checks that the loaded extension is the
  sanitized build of the scratch copy.

Time: about a minute on 2 cores (the build about 20 s, tests/bn 45 s, the fuzz seconds).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mutation import copy_tree  # the scratch copy, made as the mutation suite makes it

REPO = Path(__file__).resolve().parents[1]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
SKIP = 77
#: seconds one child process may take
TIMEOUT = 1800
#: the test that runs this script, left out of the sanitized run of tests/bn
SELF_TEST = "tests/bn/test_sanitizers.py"


class Skip(Exception):
    """The sanitizers cannot run here (the reason is the message)."""


class Failure(Exception):
    """The run found a problem (the message says what)."""


# -- the toolchain ----------------------------------------------------------------------------


def _runtime(gcc: str, name: str) -> str:
    """The absolute path of a gcc runtime library, or Skip."""
    out = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True)
    path = out.stdout.strip()
    if out.returncode != 0 or not os.path.isabs(path) or not os.path.exists(path):
        raise Skip(f"{gcc} has no {name} (install the sanitizer runtimes, e.g. libasan, libubsan)")
    return os.path.realpath(path)


def toolchain() -> tuple[str, list[str]]:
    """gcc and the libraries to preload, or Skip with the reason."""
    if platform.system() != "Linux":
        raise Skip(f"the sanitizer run needs Linux (LD_PRELOAD of libasan); this is {sys.platform}")
    gcc = shutil.which("gcc")
    if gcc is None:
        raise Skip("no gcc on PATH")
    asan = _runtime(gcc, "libasan.so")
    _runtime(gcc, "libubsan.so")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text("int main(void) { return 0; }\n", encoding="utf-8")
        out = subprocess.run(
            [gcc, *SANITIZE, str(src), "-o", str(Path(tmp, "probe"))],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise Skip(
                f"{gcc} cannot link a program with {' '.join(SANITIZE)}: {out.stderr[-500:]}"
            )
    if "--with-address-sanitizer" in (sysconfig.get_config_var("CONFIG_ARGS") or ""):
        return gcc, []  # the interpreter itself carries the runtime
    return gcc, [asan, _runtime(gcc, "libstdc++.so")]


# -- the scratch copy and its build (the copy as the mutation suite makes it) ------------------


#: the optimization of the sanitized build, given after setup.py's -O3 so that it wins (gcc
#: takes the last -O): the instrumented -O3 build took 60 s of the run's 110 s, -O1 takes 19 s.
#: Nothing is lost: UBSan's checks (a misaligned load, an overflow) are inserted from the source
#: before any optimization, and ASan checks every load and store the code makes, the kernels'
#: explicit vector loads included; -O3's own vectorization adds none past an array's end. -O1 is
#: the level AddressSanitizer's documentation recommends.
OPTIMIZE = "-O1"


def build(scratch: Path, gcc: str) -> None:
    env = dict(os.environ)
    flags = " ".join([*SANITIZE, "-g"])
    # a one-line compiler driver puts OPTIMIZE last, after the extension's own flags
    driver = scratch / "sanitize-cc"
    driver.write_text(f'#!/bin/sh\nexec {shlex.quote(gcc)} "$@" {OPTIMIZE}\n', encoding="utf-8")
    driver.chmod(0o755)
    env.update(CC=str(driver), LDSHARED=f"{gcc} -shared", CFLAGS=flags, LDFLAGS=flags)
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "--force"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
    )
    libs = sorted((scratch / "bncheck" / "bn").glob("_bn.*.so"))
    if out.returncode != 0 or len(libs) != 1:
        raise Failure(f"the sanitized build failed:\n{(out.stdout + out.stderr)[-3000:]}")


def run_env(scratch: Path, preload: list[str], logs: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(scratch), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["BNCHECK_KERNELS"] = "compiled"
    env.pop("BNCHECK_HYPOTHESIS_PROFILE", None)
    if preload:
        env["LD_PRELOAD"] = " ".join([*preload, *filter(None, [env.get("LD_PRELOAD")])])
    env["ASAN_OPTIONS"] = f"detect_leaks=0:abort_on_error=0:log_path={logs / 'asan'}"
    env["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={logs / 'ubsan'}"
    return env


PROBE = """
import bncheck.bn._compiled as native, sys
lib = native._load()
print(lib.__file__ if lib is not None else native.load_error())
"""


def check_loaded(scratch: Path, env: dict[str, str]) -> None:
    """The scratch copy's sanitized extension is the one Python loads."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    loaded = out.stdout.strip()
    if out.returncode != 0 or not loaded.startswith(str(scratch)):
        raise Failure(
            f"the sanitized extension of {scratch} does not load: {loaded}\n{out.stderr[-3000:]}"
        )
    ldd = subprocess.run(["ldd", loaded], capture_output=True, text=True)
    if "libasan" not in ldd.stdout or "libubsan" not in ldd.stdout:
        raise Failure(f"{loaded} is not linked with libasan and libubsan:\n{ldd.stdout}")


#: what every sanitizer report holds (UBSan: "file:line:col: runtime error: ...")
MARKERS = (
    "runtime error:",
    "ERROR: AddressSanitizer",
    "SUMMARY: AddressSanitizer",
    "UndefinedBehaviorSanitizer",
    "ERROR: LeakSanitizer",
)


def reports(logs: Path, output: str) -> list[str]:
    """The sanitizer reports of a run: the files in ``logs``, and the lines of ``output`` (the
    child's stdout and stderr) that belong to a report, with some context."""
    found = [f"== {p.name}\n{p.read_text(errors='replace')}" for p in sorted(logs.iterdir())]
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in MARKERS):
            found.append("== output\n" + "\n".join(lines[i : i + 40]))
            break
    return found


def run_step(name: str, cmd: Sequence[str], scratch: Path, env: dict[str, str], logs: Path) -> None:
    """Run one child; Failure on a sanitizer report (whatever the exit code) or a non-zero
    exit."""
    start = time.monotonic()
    try:
        out = subprocess.run(
            cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
        rc, text, summary = out.returncode, out.stdout + out.stderr, out.stdout
    except subprocess.TimeoutExpired as exc:
        rc, text, summary = -1, f"timed out after {TIMEOUT} s: {exc}", ""
    found = reports(logs, text)
    print(f"{name}: exit {rc}, {time.monotonic() - start:.0f} s, {len(found)} sanitizer report(s)")
    if found:
        raise Failure(f"{name}: sanitizer reports\n" + "\n".join(found) + "\n" + text[-3000:])
    if rc != 0:
        raise Failure(f"{name}: exit {rc}\n{text[-5000:]}")
    last = summary.strip().splitlines()[-1:] or [""]
    print(f"  {last[0]}")  # pytest's summary, the fuzz's


def run(args: argparse.Namespace) -> None:
    gcc, preload = toolchain()
    scratch = Path(tempfile.mkdtemp(prefix="bncheck-sanitize-"))
    try:
        copy_tree(REPO, scratch)
        logs = scratch / "sanitizer-reports"
        logs.mkdir()
        start = time.monotonic()
        build(scratch, gcc)
        print(f"build: {time.monotonic() - start:.0f} s ({gcc} {OPTIMIZE}, {' '.join(SANITIZE)})")
        env = run_env(scratch, preload, logs)
        check_loaded(scratch, env)
        if not args.no_tests:
            pytest_args = (
                shlex.split(args.pytest_args)
                if args.pytest_args
                else ["tests/bn", f"--ignore={SELF_TEST}"]
            )
            cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
            cmd.append("--capture=no")  # a UBSan report goes to stderr (see the docstring)
            run_step("tests", [*cmd, *pytest_args], scratch, env, logs)
        fuzz = [sys.executable, "benchmarks/sanitize.py", "--fuzz-child"]
        fuzz += ["--cases", str(args.cases), "--seed", str(args.seed)]
        run_step(f"fuzz ({args.cases} cases, seed {args.seed})", fuzz, scratch, env, logs)
    finally:
        if args.keep:
            print(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


# -- the fuzz (runs in the sanitized child) ---------------------------------------------------


def degenerate(x: Any) -> None:
    """Every entry point on an input of a degenerate shape; a refusal (BatchNormError, e.g. an
    empty training batch) is fine, a sanitizer report is not."""
    import numpy as np

    import bncheck

    c = x.shape[1]
    ones, zeros = np.ones(c, x.dtype), np.zeros(c, x.dtype)
    try:
        cache = bncheck.batchnorm_forward(x, ones, zeros)[1]
        bncheck.batchnorm_backward(np.ones_like(x), cache)
    except bncheck.BatchNormError:
        pass
    for call, args in (
        (bncheck.batchnorm_inference, (x, ones, zeros, zeros, ones)),
        (bncheck.inference_backward, (x, x, ones, zeros, ones)),
    ):
        try:
            call(*args)
        except bncheck.BatchNormError:
            pass


def fuzz(cases: int, seed: int) -> None:
    """``cases`` random calls of every public BN entry point on inputs in random layouts; each
    result must be bitwise the result for C-contiguous copies of the same values."""
    import numpy as np

    import bncheck
    from tests.layouts import LAYOUTS, misaligned, relayout

    if bncheck.bn.kernels() != "compiled":
        raise SystemExit("the fuzz must run the compiled kernels")
    rng = np.random.default_rng(seed)
    dtypes = ("float16", "float32", "float64", "float32/float64")

    def view(a: Any, layout: str, axis: int) -> Any:
        if layout.startswith("misaligned") and a.dtype.itemsize > 1:
            return misaligned(
                a, offset=int(rng.integers(1, a.dtype.itemsize)), readonly=layout.endswith("only")
            )
        return relayout(a, layout, broadcast_axis=axis)

    def same(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return a is None and b is None
        a, b = np.asarray(a), np.asarray(b)
        return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())

    def everything(v: dict[str, Any], axis: int, eps: float) -> list[Any]:
        out: list[Any] = []
        y, cache = bncheck.batchnorm_forward(v["x"], v["gamma"], v["beta"], eps=eps, axis=axis)
        out += [y, *bncheck.batchnorm_backward(v["dy"], cache)]
        out.append(
            bncheck.batchnorm_inference(
                v["x"], v["gamma"], v["beta"], v["mean"], v["var"], eps=eps, axis=axis
            )
        )
        eval_grads = bncheck.inference_backward(
            v["dy"],
            v["x"],
            v["gamma"],
            v["mean"],
            v["var"],
            eps=eps,
            axis=axis,
            has_beta=v["beta"] is not None,
        )
        out.append(eval_grads.dx)  # its dgamma, dbeta: NumPy sums in the layout's order
        layer = bncheck.BatchNorm(v["x"].shape[axis], axis=axis, eps=eps, dtype=v["x"].dtype)
        out += [layer(v["x"]), *layer.backward(v["dy"])]
        layer.eval()
        layer.running_mean, layer.running_var = v["mean"], v["var"]
        out += [layer(v["x"]), layer.backward(v["dy"]).dx]
        return out

    start = time.monotonic()
    # degenerate shapes first: empty batches or channels, one value per channel (eval only)
    for dt, shape in itertools.product(
        ("float16", "float32", "float64"),
        ((0, 3), (0, 3, 4), (2, 0), (1, 1), (1, 3), (3, 1, 0), (2, 1, 1, 1, 1), (2, 3, 0, 2)),
    ):
        degenerate(rng.normal(size=shape).astype(dt))
    threads_seen = set()
    for case in range(cases):
        rank = int(rng.integers(2, 6))
        big = case % 25 == 0  # large enough for several threads
        shape = [int(rng.integers(1, 7)) for _ in range(rank)]
        axis = int(rng.integers(-rank, rank))
        if big:  # 512 values per channel, 260 to 400 channels: at least 2^17 values
            shape = [1] * rank
            shape[(axis + 1) % rank], shape[axis] = 512, int(rng.integers(260, 400))
        if int(np.prod(shape)) // shape[axis] < 2:  # training needs 2 values per channel
            shape[(axis + 1) % rank] = 2
        c = shape[axis]
        kind = dtypes[int(rng.integers(len(dtypes)))]
        xdt, dydt = (kind.split("/") * 2)[:2]
        layout = {k: LAYOUTS[int(rng.integers(len(LAYOUTS)))] for k in ("x", "dy", "vec")}
        if layout["vec"] == "broadcast":  # a vector needs one value per channel
            layout["vec"] = "stepped"
        other = (axis + 1) % rank if rank > 1 else 0
        values = {
            "x": rng.normal(float(rng.normal(0, 3)), 2.0, shape).astype(xdt),
            "dy": rng.normal(size=shape).astype(dydt),
            "gamma": rng.uniform(0.5, 2.0, c).astype(xdt) if rng.random() < 0.8 else None,
            "beta": rng.normal(size=c).astype(xdt) if rng.random() < 0.8 else None,
            "mean": rng.normal(size=c).astype(xdt),
            "var": rng.uniform(0.5, 4.0, c).astype(xdt),
        }
        v = {}
        for k, a in values.items():
            lay = layout[k] if k in ("x", "dy") else layout["vec"]
            v[k] = None if a is None else view(a, lay, other if k in ("x", "dy") else 0)
        copy = {k: None if a is None else np.array(a, order="C") for k, a in v.items()}
        threads = str(min(int(rng.integers(1, 4)), len(os.sched_getaffinity(0))))
        os.environ["BNCHECK_NUM_THREADS"] = threads
        threads_seen.add(threads)
        got = everything(v, axis, 1e-3)
        expected = everything(copy, axis, 1e-3)
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            if not same(a, b):
                raise SystemExit(
                    f"fuzz case {case} (seed {seed}): output {i} differs from the C-contiguous "
                    f"copy's: {kind}, shape {shape}, axis {axis}, layouts {layout}"
                )
    elapsed = time.monotonic() - start
    print(f"fuzz: {cases} cases, threads {sorted(threads_seen)}, {elapsed:.1f} s: all clean")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=600, help="fuzz cases")
    parser.add_argument("--seed", type=int, default=0, help="fuzz seed")
    parser.add_argument("--no-tests", action="store_true", help="the fuzz only")
    parser.add_argument("--pytest-args", default="", help="pytest arguments instead of tests/bn")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--fuzz-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fuzz_child:
        fuzz(args.cases, args.seed)
        return 0
    try:
        run(args)
    except Skip as exc:
        print(f"sanitize: skipped: {exc}")
        return SKIP
    except Failure as exc:
        print(f"sanitize: FAILED: {exc}")
        return 1
    print("sanitize: clean (no sanitizer report, every test and fuzz case passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
