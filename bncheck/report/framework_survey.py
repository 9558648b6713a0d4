"""``frameworks.md``: a survey of the BNs of every installed deep-learning framework.

For each framework BN (PyTorch, Flax linen and nnx, Keras 3 on each installed backend, Equinox
in both modes, Haiku, tinygrad, MyGrad) that is installed here: ``bncheck verify``'s verdict on
it as it is (no wrapper), the conventions verify recognised (the mapping's "convention" and
"batch variance" lines), the error of its train-mode forward against the truth per regime and
dtype, and each finding with a reproduction a user can run and the framework's own words where
its documentation states the design. A framework that is not installed is listed as such.

The forward errors are measured in a child process per framework (``python -m
bncheck.report.framework_survey measure NAME``: Keras reads its backend at import, and a
framework's threads and compilation caches stay out of the report's process): max |y − truth|
over a batch of 64 × 3 with gamma = 1, beta = 0 and eps = 1e-5 (y has unit size, so this is an
absolute and a relative error at once), the truth being bncheck's mpmath BN of the same rounded
input. The numbers belong to the installed builds and the CPU, so the file is regenerated but
never compared byte for byte; the versions are recorded in it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.report.build import HEADER, Built, usable_cpus

__all__ = ["REGIMES", "SURVEY", "UNEXPLAINED_REPRODUCTIONS", "Entry", "build", "measure"]

#: eps of every measured layer (each framework's own where verify runs it)
EPS = 1e-5
#: (name, what, mean, std) of the forward regimes
REGIMES = (
    ("typical", "N(0, 1)", 0.0, 1.0),
    ("large mean", "N(1e4, 1)", 1e4, 1.0),
    ("tiny variance", "N(1, 1e-3²): variance 1e-6 < eps", 1.0, 1e-3),
)
DTYPES = ("float64", "float32", "float16")
SHAPE = (64, 3)
#: seconds each entry's verify may take in all (``verify --deadline``): a framework slower than
#: that here (tinygrad interpreting its kernels where the machine has no clang) is INCOMPLETE,
#: with what it did not check, rather than holding the report for minutes
DEADLINE = 60.0


@dataclass(frozen=True)
class Entry:
    """One surveyed BN: how verify names it, what it needs, and what its documentation says."""

    key: str
    label: str
    target: str
    packages: tuple[str, ...]
    distribution: str
    env: tuple[tuple[str, str], ...] = ()
    #: a target file's source (verify is given ``file.py:bn``), for a layer built with options
    source: str = ""
    #: the framework's own words, (quote, where), on the design verify checks it against
    quotes: tuple[tuple[str, str], ...] = ()
    #: the input ranks verify runs it on (2-D unless a layer takes only others)
    ndims: tuple[int, ...] = (2,)


_EQX_BATCH = """import equinox as eqx


def bn(c):
    return eqx.nn.BatchNorm(c, axis_name="batch", mode="batch")
"""
_FLAX_TWO_PASS = """import flax.linen as nn


class TwoPassBN(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        return nn.BatchNorm(use_running_average=not train, use_fast_variance=False)(x)


bn = TwoPassBN
"""

SURVEY: tuple[Entry, ...] = (
    Entry(
        "torch",
        "PyTorch",
        "torch.nn.BatchNorm1d",
        ("torch",),
        "torch",
        quotes=(
            (
                "the value stored in the moving average of the variance is calculated via the "
                "unbiased estimator",
                "torch.nn.BatchNorm1d docstring",
            ),
        ),
    ),
    Entry(
        "torch-2d",
        "PyTorch BatchNorm2d (4-D input)",
        "torch.nn.BatchNorm2d",
        ("torch",),
        "torch",
        ndims=(4,),
    ),
    Entry(
        "flax",
        "Flax linen (defaults)",
        "flax.linen.BatchNorm",
        ("jax", "flax"),
        "flax",
        quotes=(
            (
                "use_fast_variance: If true, use a faster, but less numerically stable, "
                "calculation for the variance.",
                "flax.linen.BatchNorm docstring",
            ),
            (
                "momentum: decay rate for the exponential moving average of the batch statistics.",
                "flax.linen.BatchNorm docstring",
            ),
        ),
    ),
    Entry(
        "flax-two-pass",
        "Flax linen, use_fast_variance=False",
        "",
        ("jax", "flax"),
        "flax",
        source=_FLAX_TWO_PASS,
    ),
    Entry("flax-nnx", "Flax nnx (defaults)", "flax.nnx.BatchNorm", ("jax", "flax"), "flax"),
    Entry(
        "keras-jax",
        "Keras 3 on JAX",
        "keras.layers.BatchNormalization",
        ("keras", "jax"),
        "keras",
        env=(("KERAS_BACKEND", "jax"),),
        quotes=(
            (
                "moving_mean = moving_mean * momentum + mean(batch) * (1 - momentum)",
                "keras.layers.BatchNormalization docstring",
            ),
        ),
    ),
    Entry(
        "keras-torch",
        "Keras 3 on torch",
        "keras.layers.BatchNormalization",
        ("keras", "torch"),
        "keras",
        env=(("KERAS_BACKEND", "torch"),),
    ),
    Entry(
        "equinox",
        "Equinox, mode='ema' (its default)",
        "equinox.nn.BatchNorm",
        ("jax", "equinox"),
        "equinox",
        quotes=(
            (
                "During training the batch statistics are used to fill in the running "
                "statistics until they are populated.",
                "equinox.nn.BatchNorm docstring, mode='ema'",
            ),
        ),
    ),
    Entry(
        "equinox-batch",
        "Equinox, mode='batch'",
        "",
        ("jax", "equinox"),
        "equinox",
        source=_EQX_BATCH,
        quotes=(
            (
                "For inference the exponential running mean and unbiased variance are used "
                "for normalization.",
                "equinox.nn.BatchNorm docstring, mode='batch'",
            ),
        ),
    ),
    Entry(
        "haiku",
        "Haiku",
        "haiku.BatchNorm",
        ("jax", "haiku"),
        "dm-haiku",
        quotes=(
            ("zero_debias: Whether to run with zero-debiasing.", "hk.ExponentialMovingAverage"),
            ("decay_rate: Decay rate for EMA.", "hk.BatchNorm docstring"),
        ),
    ),
    Entry("tinygrad", "tinygrad", "tinygrad.nn.BatchNorm", ("tinygrad",), "tinygrad"),
    Entry(
        "mygrad",
        "MyGrad",
        "mygrad.nnet.batchnorm",
        ("mygrad",),
        "mygrad",
        quotes=(
            (
                "y(x) = (x - E[x]) / sqrt(Var[x] + eps)",
                "mygrad.nnet.batchnorm docstring",
            ),
        ),
    ),
)

#: per entry, for a failure no known mistake reproduces: a few lines a user runs to see it
UNEXPLAINED_REPRODUCTIONS: dict[str, str] = {
    "torch-2d": """import numpy as np, torch
x, dy = np.random.default_rng(0).standard_normal((2, 1, 17, 1, 2))  # a batch of 1, H = 1
bn = torch.nn.BatchNorm2d(17).double()
xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
bn(xt).backward(torch.from_numpy(np.asfortranarray(dy)))  # dy's strides read channels-last
print(np.abs(bn.bias.grad.numpy() - dy.sum(axis=(0, 2, 3))).max())  # dbias = sum of dy: 0""",
}

#: per diagnosis id: a few lines a user runs to see the finding with the framework alone
#: (keyed by (entry key, mistake id); "*" for any entry)
REPRODUCTIONS: dict[tuple[str, str], str] = {
    ("haiku", "one-pass-variance"): """import haiku as hk, jax, numpy as np
f = hk.transform_with_state(lambda x: hk.BatchNorm(True, True, 0.99)(x, is_training=True))
x = (np.random.default_rng(0).normal(size=(64, 3)) + 1e4).astype("float32")
params, state = f.init(jax.random.PRNGKey(0), x)
y, _ = f.apply(params, state, None, x)
print(np.asarray(y).std(0), np.isnan(np.asarray(y)).sum())  # std should be ~1""",
    ("flax", "one-pass-variance"): """import flax.linen as nn, jax, numpy as np
x = (np.random.default_rng(0).normal(size=(64, 3)) + 1e4).astype("float32")
bn = nn.BatchNorm(use_running_average=False)  # use_fast_variance=True by default
v = bn.init(jax.random.PRNGKey(0), x)
y, _ = bn.apply(v, x, mutable=["batch_stats"])
print(np.asarray(y).std(0))  # should be ~1""",
    ("flax-nnx", "one-pass-variance"): """import flax.nnx as nnx, numpy as np
x = (np.random.default_rng(0).normal(size=(64, 3)) + 1e4).astype("float32")
bn = nnx.BatchNorm(3, rngs=nnx.Rngs(0))  # use_fast_variance=True by default
print(np.asarray(bn(x)).std(0))  # should be ~1""",
    ("keras-torch", "one-pass-variance"): """import os; os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np
x = (np.random.default_rng(0).normal(size=(64, 3)) + 1e4).astype("float32")
y = keras.layers.BatchNormalization()(x, training=True)
print(np.isnan(keras.ops.convert_to_numpy(y)).sum(), "NaN of", x.size)""",
    ("keras-jax", "float32-arithmetic"): """import os; os.environ["KERAS_BACKEND"] = "jax"
import jax; jax.config.update("jax_enable_x64", True)
import keras, numpy as np
keras.config.set_dtype_policy("float64")
x = np.random.default_rng(0).normal(size=(64, 3))
y = keras.ops.convert_to_numpy(keras.layers.BatchNormalization()(x, training=True))
print(y.dtype, np.array_equal(y, y.astype("float32").astype("float64")))  # float32 numbers""",
    ("keras-torch", "float32-arithmetic"): """import os; os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np
keras.config.set_dtype_policy("float64")
x = np.random.default_rng(0).normal(size=(64, 3))
y = keras.ops.convert_to_numpy(keras.layers.BatchNormalization()(x, training=True))
print(y.dtype, np.array_equal(y, y.astype("float32").astype("float64")))  # float32 numbers""",
    ("equinox-batch", "debias-nonzero-start"): """import equinox as eqx, jax, numpy as np
bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, "batch", mode="batch")
x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
run = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
_, state = run(x, state)  # one train step
y, _ = jax.vmap(lambda xi: bn(xi, state, inference=True)[0])(x)
print(np.asarray(y).std(0))  # ~1 for eval on the same batch; ~0.1: variance ~1 + 99""",
}


def installed(entry: Entry) -> bool:
    """Whether the packages ``entry`` needs are installed (found, not imported)."""
    return all(importlib.util.find_spec(p) is not None for p in entry.packages)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# -- the child: each framework's train-mode forward ------------------------------------------


def _jax(dtype: str) -> Any:
    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")
    return jax


def _run_torch(x: np.ndarray) -> np.ndarray:
    import torch

    bn = torch.nn.BatchNorm1d(x.shape[1], eps=EPS).to(getattr(torch, x.dtype.name))
    return np.asarray(bn(torch.from_numpy(x)).detach().numpy())


def _run_torch_2d(x: np.ndarray) -> np.ndarray:
    """BatchNorm2d on the (64, C) values laid out as (16, C, 2, 2): the same 64 values per
    channel, so the same truth."""
    import torch

    n, c = x.shape
    x4 = np.ascontiguousarray(x.reshape(n // 4, 2, 2, c).transpose(0, 3, 1, 2))
    bn = torch.nn.BatchNorm2d(c, eps=EPS).to(getattr(torch, x.dtype.name))
    y4 = bn(torch.from_numpy(x4)).detach().numpy()
    return np.asarray(y4.transpose(0, 2, 3, 1).reshape(n, c))


def _run_flax(fast: bool) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        _jax(x.dtype.name)
        import flax.linen as nn
        import jax

        bn = nn.BatchNorm(
            use_running_average=False,
            epsilon=EPS,
            use_fast_variance=fast,
            dtype=x.dtype,
            param_dtype=x.dtype,
        )
        v = bn.init(jax.random.PRNGKey(0), x)
        y, _ = bn.apply(v, x, mutable=["batch_stats"])
        return np.asarray(y)

    return run


def _run_nnx(x: np.ndarray) -> np.ndarray:
    _jax(x.dtype.name)
    import flax.nnx as nnx

    bn = nnx.BatchNorm(
        x.shape[1], epsilon=EPS, dtype=x.dtype, param_dtype=x.dtype, rngs=nnx.Rngs(0)
    )
    return np.asarray(bn(x))


def _run_keras(x: np.ndarray) -> np.ndarray:
    os.environ.setdefault("KERAS_BACKEND", "jax")  # as verify: Keras' own default is TensorFlow
    if os.environ["KERAS_BACKEND"] == "jax":
        _jax(x.dtype.name)
    import keras

    keras.config.set_dtype_policy(x.dtype.name)
    bn = keras.layers.BatchNormalization(epsilon=EPS)
    return np.asarray(keras.ops.convert_to_numpy(bn(x, training=True)))


def _run_equinox(mode: str) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        jax = _jax(x.dtype.name)
        import equinox as eqx

        bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
            x.shape[1], "batch", eps=EPS, mode=mode, dtype=x.dtype
        )
        run = jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
        y, _ = run(x, state)
        return np.asarray(y)

    return run


def _run_haiku(x: np.ndarray) -> np.ndarray:
    jax = _jax(x.dtype.name)
    import haiku as hk

    f = hk.transform_with_state(
        lambda z: hk.BatchNorm(True, True, 0.99, eps=EPS)(z, is_training=True)
    )
    params, state = f.init(jax.random.PRNGKey(0), x)
    y, _ = f.apply(params, state, None, x)
    return np.asarray(y)


def _run_tinygrad(x: np.ndarray) -> np.ndarray:
    from tinygrad import Device, Tensor, nn
    from tinygrad.helpers import DEV, Context

    try:
        Device.DEFAULT  # noqa: B018 (raises when the machine has no usable device)
    except RuntimeError:
        DEV.value = "PYTHON"  # the fallback verify states too: tinygrad's interpreter

    bn = nn.BatchNorm(x.shape[1], eps=EPS)
    dt = x.dtype
    for name in ("weight", "bias", "running_mean", "running_var"):
        setattr(bn, name, Tensor(getattr(bn, name).numpy().astype(dt)))
    with Context(TRAINING=1):
        return np.asarray(bn(Tensor(x)).numpy())


def _run_mygrad(x: np.ndarray) -> np.ndarray:
    import mygrad

    return np.asarray(mygrad.nnet.batchnorm(x, eps=EPS).data)


RUNNERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "torch": _run_torch,
    "torch-2d": _run_torch_2d,
    "flax": _run_flax(True),
    "flax-two-pass": _run_flax(False),
    "flax-nnx": _run_nnx,
    "keras-jax": _run_keras,
    "keras-torch": _run_keras,
    "equinox": _run_equinox("ema"),
    "equinox-batch": _run_equinox("batch"),
    "haiku": _run_haiku,
    "tinygrad": _run_tinygrad,
    "mygrad": _run_mygrad,
}


def measure(key: str) -> dict[str, dict[str, str]]:
    """{regime: {dtype: max |y − truth|, or why not}} of the survey entry ``key``'s train-mode
    forward, in this process (the child's work)."""
    from bncheck.check.norms import BATCH_NORM
    from bncheck.check.truth import exact_batchnorm

    run = RUNNERS[key]
    out: dict[str, dict[str, str]] = {}
    for k, (name, _, mean, std) in enumerate(REGIMES):
        rng = np.random.default_rng([2024, k])
        base = rng.normal(size=SHAPE)
        out[name] = {}
        for dtype in DTYPES:
            x = (base * std + mean).astype(dtype)
            try:
                y = np.asarray(run(x), dtype=np.float64)
            except Exception as exc:
                out[name][dtype] = f"error: {type(exc).__name__}: {str(exc)[:60]}"
                continue
            truth = exact_batchnorm(x.astype(np.float64), None, None, eps=EPS, spec=BATCH_NORM).y
            with np.errstate(all="ignore"):
                err = float(np.max(np.abs(y - truth)))
            out[name][dtype] = "NaN" if not np.isfinite(err) else f"{err:.2g}"
    return out


# -- the parent --------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(pairs: tuple[tuple[str, str], ...]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k, _ in pairs}
    os.environ.update(dict(pairs))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _child_errors(entry: Entry) -> dict[str, dict[str, str]] | str:
    env = {**os.environ, **dict(entry.env), "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "bncheck.report.framework_survey", "measure", entry.key]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return "the measurement did not finish within 300 s"
    if done.returncode != 0:
        return "the measurement failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]
    found: dict[str, dict[str, str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _verify(entry: Entry, folder: Path) -> Any:
    from bncheck.check import verify

    target = entry.target
    if entry.source:
        path = folder / f"survey_{entry.key.replace('-', '_')}.py"
        path.write_text(entry.source, encoding="utf-8")
        target = f"{path}:bn"
    with _environ(entry.env):
        return verify(
            target,
            ndims=entry.ndims,
            dtypes=("float64", "float32"),
            timeout=DEADLINE,
            deadline=DEADLINE,
        )


def _conventions(mapping: list[str]) -> list[str]:
    keys = ("convention:", "batch variance:", "float64 input is computed", "decay_rate:")
    return [line for line in mapping if line.startswith(keys)]


def verdict(report: Any) -> str:
    if report.passed:
        return "PASS"
    if report.result == "incomplete":  # nothing failed; what could not be checked is said
        n = len(report.not_checked)
        return f"INCOMPLETE ({n} check{'s' if n != 1 else ''} not checked)"
    failed = [c.id for c in report.failed]
    return f"FAIL ({len(failed)} checks)"


def _section(entry: Entry, report: Any, errors: Any, command: str) -> list[str]:
    lines = [f"## {entry.label} ({entry.distribution} {_version(entry.distribution)})", ""]
    if entry.source:
        lines += ["bn.py:", "", "```python", *entry.source.rstrip().splitlines(), "```", ""]
    lines.append(f"- verify: `{command}` → **{verdict(report)}**")
    if report.result == "incomplete":  # why, in verify's words (the first reason, shortened)
        why = sorted({c.message for c in report.not_checked if c.message})
        if why:
            lines.append(f"- not checked: {why[0][:240]}" + (" …" if len(why) > 1 else ""))
    for line in _conventions(list(report.mapping)):
        lines.append(f"- {line}")
    for quote, where in entry.quotes:
        lines.append(f'- its documentation: "{quote}" ({where})')
    lines.append("")
    if isinstance(errors, str):
        lines += [f"Forward error: {errors}.", ""]
    else:
        lines.append("Forward error, max |y − truth| (train mode, gamma = 1, beta = 0):")
        lines.append("")
        lines.append("| regime | " + " | ".join(DTYPES) + " |")
        lines.append("|---|" + "---|" * len(DTYPES))
        for name, what, _, _ in REGIMES:
            row = errors.get(name, {})
            cells = " | ".join(row.get(d, "") for d in DTYPES)
            lines.append(f"| {name}: {what} | {cells} |")
        lines.append("")
    findings = list(report.diagnosis)
    unnamed = [c.id for c in report.unexplained]
    if not findings and not unnamed:
        lines += ["Findings: none; every check verify ran passed.", ""]
        return lines
    lines.append("Findings:")
    lines.append("")
    for d in findings:
        seen = ", ".join(d.get("checks", [])[:4]) + (", …" if len(d.get("checks", [])) > 4 else "")
        lines.append(
            f"- **{d['id']}**: {d.get('description', '')}" + (f" (in {seen})" if seen else "")
        )
        repro = REPRODUCTIONS.get((entry.key, d["id"]))
        if repro:
            lines += ["", "  ```python", *("  " + r for r in repro.splitlines()), "  ```", ""]
    if unnamed:
        lines.append(f"- unexplained (no known mistake reproduces them): {', '.join(unnamed)}")
        said = {c.explanation for c in report.unexplained if c.explanation}
        lines += [f"  - what verify found: {e}" for e in sorted(said)]
        repro = UNEXPLAINED_REPRODUCTIONS.get(entry.key)
        if repro:
            lines += ["", "  ```python", *("  " + r for r in repro.splitlines()), "  ```", ""]
    lines.append("")
    return lines


def _surveyed(entry: Entry, folder: str) -> list[str]:
    """One installed entry's section (run in a survey worker: a process of its own, so the
    environment variables an entry sets are its own)."""
    command = (
        " ".join(f"{k_}={v}" for k_, v in entry.env)
        + (" " if entry.env else "")
        + "bncheck verify "
        + (entry.target or "bn.py:bn")
    )
    try:
        report = _verify(entry, Path(folder))
    except Exception as exc:
        why = f"`{command}` could not run: {type(exc).__name__}: {exc}"
        return [f"## {entry.label}", "", why, ""]
    return _section(entry, report, _child_errors(entry), command)


def build(out: Path, *, quick: bool = False, progress: Any = None) -> Built:
    """Write ``frameworks.md`` into ``out`` (module docstring); the summary says which
    frameworks passed and which were found wrong.

    The installed entries are surveyed at once, one worker process per usable CPU (each entry's
    verify and measurement run in processes of their own, so a worker mostly waits): the page
    lists them in table order whatever order they finish in."""
    lines = [
        HEADER.rstrip("\n"),
        "# Frameworks' BNs, surveyed",
        "",
        "Every framework BN installed here, verified as it is by `bncheck verify` (no wrapper: "
        "2-D inputs, PyTorch's BatchNorm2d 4-D ones; float64 and float32; "
        f"`--deadline {DEADLINE:g}`: a framework slower than that here is INCOMPLETE and says "
        "what it did not check), with the "
        "conventions it recognised, the forward's error against bncheck's mpmath truth per "
        "regime and dtype, and each finding with a reproduction that uses the framework "
        "alone. Regenerated by `bncheck report`; the numbers belong to the installed versions "
        "(given per section) and this CPU, so the file is never compared byte for byte.",
        "",
    ]
    present = [e for e in SURVEY if installed(e)]
    absent = [e.label for e in SURVEY if not installed(e)]
    with tempfile.TemporaryDirectory() as tmp:
        if len(present) > 1 and usable_cpus() > 1:
            workers = min(usable_cpus(), len(present))
            with ProcessPoolExecutor(workers, get_context("spawn")) as pool:
                futures = [pool.submit(_surveyed, e, tmp) for e in present]
                for entry, future in zip(present, futures, strict=True):
                    lines += future.result()
                    if progress is not None:
                        progress(entry.key)
        else:
            for entry in present:
                if progress is not None:
                    progress(entry.key)
                lines += _surveyed(entry, tmp)
    if absent:
        lines += ["## Not installed here", "", ", ".join(absent) + ".", ""]
    path = out / "frameworks.md"
    tmp_path = path.with_suffix(".md.tmp")
    tmp_path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    tmp_path.replace(path)
    # the index stays the same bytes on every machine: what was installed, and so what the
    # page says, depends on the machine (as for numerical_error_frameworks.md)
    summary = [
        "Every installed framework's BN verified as it is: its verdict, the conventions "
        "detected, its error per regime and dtype, each finding with a reproduction.",
        "What is installed decides what the page holds, so it records the versions and this "
        "index carries no verdicts from it.",
    ]
    return Built([path], summary)


if __name__ == "__main__":  # the child: python -m bncheck.report.framework_survey measure KEY
    if len(sys.argv) == 3 and sys.argv[1] == "measure" and sys.argv[2] in RUNNERS:
        print(json.dumps(measure(sys.argv[2])))
    else:
        sys.exit(f"usage: {sys.argv[0]} measure {{{','.join(RUNNERS)}}}")
