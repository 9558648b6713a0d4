"""The ``bncheck`` command line. The only I/O besides ``bncheck/report/``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import bncheck


def _checkout_root() -> Path | None:
    """The repository root when bncheck runs from a source checkout (editable install or
    PYTHONPATH), else None: an installed bncheck never writes beside its own files."""
    root = Path(__file__).resolve().parent.parent
    marks = ("pyproject.toml", "derivations/__init__.py", "bncheck/check/reference.py")
    return root if all((root / m).is_file() for m in marks) else None


#: Where the reports go by default: the checkout's reports/, or ./reports when installed.
REPO_ROOT = _checkout_root()
DEFAULT_REPORTS = (REPO_ROOT or Path.cwd()) / "reports"


#: third-party package -> the extra that installs it (a command that needs one names the extra)
OPTIONAL = {
    "mpmath": "verify",
    "hypothesis": "verify",
    "pytest": "verify",
    "tabulate": "report",
    "sympy": "derive",
    "matplotlib": "report",
}


def _derivations() -> Any:
    """The SymPy derivation package, imported only for the commands that need it."""
    return importlib.import_module("bncheck.derivations")


def _missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The usage message for a missing optional dependency (None: not one of ours)."""
    top = (exc.name or "").partition(".")[0]
    if top not in OPTIONAL:
        return None
    extra = OPTIONAL[top]
    return (
        f"this command needs {top}, which is not installed; install the [{extra}] extra: "
        f"pip install 'bncheck[{extra}]' (or 'bncheck[test]' for everything)"
    )


def _cmd_derive(args: argparse.Namespace) -> int:
    unusable = _unusable_folder("--out", Path(args.root))
    if unusable is not None:
        print(f"bncheck derive: {unusable}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    written: list[Path] = _derivations().run(Path(args.root))
    for path in written:
        print(f"wrote {path}")
    print(f"bncheck derive: {len(written)} files in {time.perf_counter() - start:.1f} s")
    return 0


#: exit codes of ``bncheck verify`` (also in its --help and the README)
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_LOADED, EXIT_INCOMPLETE = 0, 1, 2, 3, 4


def _not_loaded(args: argparse.Namespace, exc: Exception) -> int:
    """The target could not be imported (the user's environment, not a verdict on the BN):
    said on stdout as ``Result: NOT LOADED`` (or ``"result": "not-loaded"`` with --json), the
    traceback on stderr, exit code 3."""
    import json

    tb = getattr(exc, "traceback", "") or ""
    if args.json:
        data = {
            "target": args.target,
            "result": "not-loaded",
            "passed": False,
            "error": str(exc),
            "traceback": tb,
        }
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(
            f"bncheck verify {args.target}\n\n{exc}\n\nResult: NOT LOADED "
            "(the target could not be imported; nothing was checked)"
        )
    if tb:
        print(tb.rstrip(), file=sys.stderr)
    return EXIT_NOT_LOADED


#: verify's mapping options: role -> (metavar, help); the role is the key of verify(mapping=)
MAPPING_OPTIONS = {
    "forward": ("NAME", "the layer's method that maps x to y (default: found by behaviour)"),
    "backward": ("NAME", "the layer's method that takes dy and returns dx (default: found)"),
    "gamma": ("PATH", "where the layer keeps gamma (default: found by the affine law)"),
    "beta": ("PATH", "where the layer keeps beta (default: found by the affine law)"),
    "dgamma": ("PATH", "where the backward leaves the gradient of gamma (default: found)"),
    "dbeta": ("PATH", "where the backward leaves the gradient of beta (default: found)"),
    "running_mean": ("PATH", "where the layer keeps its running mean (default: found)"),
    "running_var": (
        "PATH",
        "where the layer keeps its running variance, standard deviation or inverse standard "
        "deviation; which of them is fitted (default: found)",
    ),
    "running_form": (
        "FORM",
        "what the running variance path holds: var, std (sqrt(var)), std-eps (sqrt(var + "
        "eps)) or inv-std (1/sqrt(var + eps)) (default: fitted)",
    ),
    "build": (
        "ARGS",
        "how to build the layer: its constructor's arguments, Python literals and C for the "
        "channel count, e.g. 'C, eps=1e-3' or 'n_in=C, momentum=0.1' (default: found)",
    ),
    "mode": (
        "NAME",
        "the train/eval switch: a keyword argument, attribute or method of the layer "
        "(default: found by behaviour)",
    ),
    "train_value": ("VALUE", "the --mode value for training (default: tried: True, 'train')"),
    "eval_value": ("VALUE", "the --mode value for eval (default: tried: False, words in its code)"),
}


def _cmd_verify(args: argparse.Namespace) -> int:
    from bncheck.check._verify import LoadError, verify
    from bncheck.exceptions import TargetImportFailed, TargetLoadFailed

    try:
        report = verify(
            args.target,
            convention=args.convention,
            dtypes=tuple(args.dtypes.split(",")),
            ndims=None if args.ndims is None else tuple(int(n) for n in args.ndims.split(",")),
            thorough=args.thorough,
            examples=args.examples,
            timeout=args.timeout,
            seed=args.seed,
            deadline=args.deadline,
            memory_limit=int(args.memory_limit * (1 << 20)),
            load_timeout=args.load_timeout,
            axis=args.axis,
            strict=args.strict,
            world_size=args.world_size,
            mapping={k: getattr(args, k) for k in MAPPING_OPTIONS if getattr(args, k) is not None},
            norm=args.norm,
            compile_cache=False if args.no_compile_cache else (args.compile_cache or True),
        )
    except TargetLoadFailed as exc:  # the target's own failure, not a usage error
        print(
            f"bncheck verify: target {args.target!r} failed while loading: {exc}", file=sys.stderr
        )
        if exc.traceback:
            print(exc.traceback, file=sys.stderr)
        return EXIT_FAIL
    except TargetImportFailed as exc:
        return _not_loaded(args, exc)
    except LoadError as exc:
        print(f"bncheck verify: cannot use target {args.target!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"bncheck verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.to_json() if args.json else report.to_text())
    if report.result == "incomplete":
        return EXIT_PASS if args.accept_incomplete else EXIT_INCOMPLETE
    return EXIT_PASS if report.passed else EXIT_FAIL


class _ProgressBar:
    """A one-line progress bar on a terminal (stderr); plain lines elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int, section: str, step: str) -> None:
        width = 24
        filled = width * done // max(total, 1)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.start
        text = f"[{bar}] {done}/{total} {section}: {step} ({elapsed:.0f} s)"
        if self.tty:
            self.stream.write("\r\033[K" + text[:120])
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _out_refusal(out: Path) -> str | None:
    """Why ``bncheck report`` must not write into ``out`` (None: it may).

    It may write into a new or empty folder, or into a bncheck report folder: one whose
    README.md starts with the generated header (bncheck.report.build.HEADER). Anything else
    holds files bncheck did not write, which the reports could overwrite.
    """
    from bncheck.report.build import HEADER

    unusable = _unusable_folder("--out", out)
    if unusable is not None:
        return unusable
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return None
    readme = out / "README.md"
    header = HEADER.encode("utf-8")
    if readme.is_file():
        try:
            with open(readme, "rb") as fh:
                if fh.read(len(header)) == header:
                    return None
        except OSError:
            pass
        return (
            f"--out {out} is not a bncheck report folder: {readme} would be overwritten, and "
            "its first line is not the header `bncheck report` writes "
            f"({HEADER.strip()}). Expected a new or empty folder, or one written by "
            "`bncheck report`; choose another --out, or move that file away"
        )
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"--out {out} is not empty and is not a bncheck report folder (it has no README.md "
        f"written by `bncheck report`): it holds {shown}, which bncheck did not write and the "
        f"reports could overwrite (e.g. {out / names[0]}). Expected a new or empty folder, or "
        "one written by `bncheck report`; choose another --out"
    )


def _unusable_folder(option: str, out: Path) -> str | None:
    """Why ``out`` cannot be the folder a command writes into (None: it can, and now exists).

    The folder is created (with its parents) if it is new, and a file is created and removed
    in it, so that a path under a file, a dangling symbolic link, a path the system refuses
    (``/proc``, a read-only mount) or a folder without write permission is a usage error
    before any work, never a traceback after it."""
    expected = "expected a folder that exists or can be created, and that bncheck may write in"
    if out.is_symlink() and not out.exists():
        return (
            f"{option} {out} is a symbolic link to {os.readlink(out)!r}, which does not "
            f"exist; {expected}"
        )
    if out.exists() and not out.is_dir():
        return f"{option} {out} is a file; {expected}"
    for parent in out.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"{option} {out}: {parent} is not a folder; {expected}"
            break
    created = [p for p in (out, *out.parents) if not (p.exists() or p.is_symlink())]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        for folder in created:  # a refused --out leaves no folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        return f"{option} {out}: {exc.strerror or exc}; {expected}"
    return None


def _cmd_report(args: argparse.Namespace) -> int:
    from bncheck.report.build import SECTIONS, build_all

    names = {s.name for s in SECTIONS}
    only = tuple(args.only.split(",")) if args.only else None
    if only and not set(only) <= names:
        print(
            f"bncheck report: --only {args.only!r}; expected names from {sorted(names)}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    refusal = _out_refusal(out)
    if refusal is not None:
        print(f"bncheck report: {refusal}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    # The full run into the checkout's reports/ also regenerates the quick version that CI
    # compares with what the code produces (reports/quick/, built beside the full one) and the
    # reference code, as `bncheck derive` does (from the derivation this run has made).
    everything = (
        REPO_ROOT is not None
        and out.resolve() == DEFAULT_REPORTS.resolve()
        and not args.quick
        and only is None
    )
    written = build_all(
        out,
        quick=args.quick,
        progress=_ProgressBar(sys.stderr),
        only=only,
        quick_out=out / "quick" if everything else None,
    )
    if everything:
        written += _derive_code()
    for path in written:
        print(f"wrote {path}")
    print(f"bncheck report: {len(written)} files in {time.perf_counter() - start:.1f} s")
    return 0


def _derive_code() -> list[Path]:
    paths: list[Path] = []
    if REPO_ROOT is None:
        return paths
    for rel, text in _derivations().texts().items():
        if rel.parts[0] == "bncheck":
            path = REPO_ROOT / rel
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    return paths


def _cmd_bench(args: argparse.Namespace) -> int:
    from bncheck.report.bench import CASES, machine, run
    from bncheck.report.performance import render_table, verdicts

    bar = _ProgressBar(sys.stderr)
    steps: list[str] = []

    def progress(name: str) -> None:
        steps.append(name)
        bar(len(steps) - 1, len(CASES), "bench", name)

    timings = run(rounds=args.rounds, progress=progress)
    bar(len(CASES), len(CASES), "bench", "done")
    print(f"bncheck bench on {machine()}, median of {args.rounds} interleaved rounds\n")
    print(render_table(timings))
    print()
    for what, value, met in verdicts(timings):
        print(f"{what}: {value} {met}")
    return 0


def _csv(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        bad = [t for t in text.split(",") if t not in choices]
        if bad or not text:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a comma-separated list of {', '.join(choices)}"
            )
        return text

    return parse


def _folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a folder")
    return text


def _positive(unit: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0 or value > 1e9:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a finite number of {unit} > 0 (and at most 1e9)"
            )
        return value

    return parse


def _world_size(text: str) -> int:
    if not text.isdigit() or not 2 <= int(text) <= 16:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 2 to 16")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bncheck",
        description="Verify Batch Normalization: symbolic derivation, reference code, checks.",
    )
    parser.add_argument("--version", action="version", version=f"bncheck {bncheck.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    derive = sub.add_parser(
        "derive",
        help="derive the BN gradients with SymPy, audit the source document, write the "
        "generated reference and the derivation reports",
    )
    derive.add_argument(
        "--out",
        "--root",
        dest="root",
        default=str(REPO_ROOT or Path.cwd()),
        help="folder that receives bncheck/check/reference.py and reports/ "
        "(default: the repository root in a source checkout, else the working directory)",
    )
    derive.set_defaults(func=_cmd_derive)

    rep = sub.add_parser(
        "report",
        help="regenerate every report (numerical error, running statistics, derivation, "
        "source audit) and the index reports/README.md",
    )
    rep.add_argument(
        "--out",
        default=str(DEFAULT_REPORTS),
        help="output folder: new, empty, or one `bncheck report` wrote (default: reports/ of "
        "the checkout in a source checkout, else ./reports)",
    )
    rep.add_argument(
        "--quick",
        action="store_true",
        help="a small version, the one tests compare with the code (default: the full report)",
    )
    rep.add_argument(
        "--only",
        default=None,
        help="comma-separated section names to regenerate (default: every section)",
    )
    rep.set_defaults(func=_cmd_report)

    bench = sub.add_parser(
        "bench",
        help="time train and eval BN for bncheck (functional and layer), PyTorch (when "
        "installed) and a compiled traffic floor, and bncheck's LayerNorm, RMSNorm and "
        "GroupNorm beside PyTorch's; print the ratios and peak memory",
    )
    bench.add_argument(
        "--rounds",
        type=int,
        default=9,
        help="interleaved rounds; the median is printed (default 9)",
    )
    bench.set_defaults(func=_cmd_bench)

    ver = sub.add_parser(
        "verify",
        help="check a BN implementation: forward, backward, finite differences, identities, "
        "running statistics, eval mode; exit 0 pass, 1 fail, 2 usage error, 3 the target "
        "could not be imported, 4 incomplete (no mistake found in what ran; not everything "
        "that applies could be checked)",
        description="TARGET: file.py or pkg.module (forward/backward, or cs231n-style "
        "batchnorm_forward/batchnorm_backward), file.py:prefix (prefix_forward/prefix_backward), "
        "file.py:factory (a layer factory), or a dotted class such as torch.nn.BatchNorm2d. "
        "Targets are imported as Python would: the working directory and the file's folder on "
        "the path, a file inside a package under its dotted name. Exit codes: 0 pass, 1 fail "
        "(a mistake found, or the target crashed), 2 usage error (bad options, no such target, "
        "no BN protocol found), 3 the target could not be imported (a module it imports is "
        'missing, or it does not parse): \'Result: NOT LOADED\', JSON "result": "not-loaded", 4 '
        "incomplete: no check failed, but a check that applies to the target could not be "
        "driven (e.g. a train/eval switch with no running statistics bncheck could find, or "
        "a target that did not answer within --timeout: too slow or hung): "
        '\'Result: INCOMPLETE\', JSON "result": "incomplete" and "not_checked".',
    )
    ver.add_argument("target", help="what to verify (see above); required")
    ver.add_argument(
        "--convention",
        choices=[*bncheck.CONVENTIONS, "any"],
        default="any",
        help="running-statistics convention a layer must follow (default: any, and report it)",
    )
    ver.add_argument(
        "--json", action="store_true", help="print the report as JSON (default: as text)"
    )
    ver.add_argument(
        "--axis",
        type=int,
        choices=(1, -1),
        default=1,
        help="the channel axis the target expects: 1 (default) or -1 (channels-last)",
    )
    ver.add_argument(
        "--norm",
        metavar="KIND",
        default=None,
        help="which normalization the target computes: batch, layer[:K] (the last K axes), "
        "group:G, instance or rms[:K] (default: batch norm, unless the target's name says "
        "layer/group/instance/RMS norm; the member is then fitted and reported)",
    )
    ver.add_argument(
        "--strict",
        action="store_true",
        help="interface deviations (a float64 result for float32 input, (1, C) gradients) "
        "fail instead of warning (default: off, they warn)",
    )
    ver.add_argument(
        "--accept-incomplete",
        action="store_true",
        help="exit 0 for an incomplete verification (no mistake found in what ran, some checks "
        "could not be driven); its report still says what was not checked (default: off, "
        "exit 4)",
    )
    ver.add_argument(
        "--thorough",
        action="store_true",
        help="search many more random inputs: 100 per rank and dtype, over boundary channel "
        "counts, sizes and memory layouts (default: off, 6 small C-ordered ones)",
    )
    ver.add_argument(
        "--examples",
        type=int,
        default=None,
        help="random inputs searched per rank and dtype; overrides --thorough (default 6, or "
        "100 with --thorough)",
    )
    ver.add_argument(
        "--timeout", type=_positive("seconds"), default=10.0, help="seconds per call (default 10)"
    )
    ver.add_argument(
        "--deadline",
        type=_positive("seconds"),
        default=300.0,
        help="seconds for the whole verification; later calls fail (default 300)",
    )
    ver.add_argument(
        "--load-timeout",
        type=_positive("seconds"),
        default=60.0,
        help="seconds loading the target may take (default 60)",
    )
    ver.add_argument(
        "--memory-limit",
        type=_positive("MB"),
        default=4096.0,
        metavar="MB",
        help="address space of the target process, in MB (default 4096)",
    )
    cache = ver.add_mutually_exclusive_group()
    cache.add_argument(
        "--compile-cache",
        metavar="DIR",
        type=_folder,
        default=None,
        help="JAX's persistent compilation cache for a JAX target: programs compiled by an "
        "earlier verification are loaded, not compiled again (default $BNCHECK_COMPILE_CACHE, "
        "else ~/.cache/bncheck/jax; JAX_COMPILATION_CACHE_DIR, when set, wins)",
    )
    cache.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="compile every program afresh (default: off, the cache is used)",
    )
    ver.add_argument(
        "--dtypes",
        type=_csv(("float64", "float32", "float16")),
        default="float64,float32",
        help="comma-separated input dtypes to check, from float64, float32, float16 "
        "(default float64,float32)",
    )
    ver.add_argument(
        "--ndims",
        type=_csv(("2", "3", "4", "5")),
        default=None,
        help="input ranks to check (default 2,4, or the ranks the target takes; a rank asked "
        "for explicitly that the target cannot take is a failed check)",
    )
    ver.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds every random input: the same seed gives the same inputs (default 0)",
    )
    ver.add_argument(
        "--world-size",
        type=_world_size,
        default=None,
        metavar="K",
        help="verify a synchronized BN (torch.nn.Module class or f(x, gamma, beta, eps[, "
        "group])) in K processes over gloo, 2 to 16 (needs PyTorch; default: one process)",
    )
    mapping = ver.add_argument_group(
        "mapping",
        "Name what discovery could not decide (bncheck finds each by watching the target; an "
        "option here replaces the search for that role). PATH: steps from the layer, "
        "attributes, dict keys and indices: params.0, grads[1], \"stats['mean']\".",
    )
    for role, what in MAPPING_OPTIONS.items():
        mapping.add_argument(
            "--" + role.replace("_", "-"), default=None, metavar=what[0], help=what[1]
        )
    ver.set_defaults(func=_cmd_verify)
    return parser


def _tolerant_output() -> None:
    """Text that the terminal's encoding cannot show (a target's file name in an ASCII-only
    locale) is written as escapes instead of ending the command with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except ModuleNotFoundError as exc:
        message = _missing_extra(exc)
        if message is None:
            raise
        print(f"bncheck {args.command}: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`bncheck verify t.py | head`): no traceback, and no claim of
        # a pass that was not printed in full
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code
