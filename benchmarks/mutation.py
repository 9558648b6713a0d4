"""A curated mutation suite: realistic bugs planted one at a time; the tests must fail on each.

    .venv/bin/python benchmarks/mutation.py                  # every mutant, writes the report
    .venv/bin/python benchmarks/mutation.py --only ID[,ID]   # some mutants, prints only
    .venv/bin/python benchmarks/mutation.py --list           # the mutants, and whether each
                                                             # still matches the code
    options: --no-fallback (never run the whole suite), --keep (keep the scratch copy)

Not a generic mutator: every row of :data:`MUTANTS` is a bug a person could write (a dropped
low part of a double-double, eps forgotten in a kernel, a momentum read the other way, a
verifier comparison that always passes, ...), chosen across the C kernels, their bindings, the
NumPy fallback, running statistics, layer state and files, the error budgets, finite
differences, the verify engine, the diagnosis and the derivation/code generation.

A mutant is defined by what it changes, not by where the file is: a symbol (a Python function,
method as ``Class.method``, class or module-level name, optionally ``module:qualname``
when the name alone is ambiguous, ``module`` being the file's stem or the end of its dotted
module path (``bn._compiled:backward`` when two files share the stem); a C function, also one
defined through ``BN_FN(name)``, or a ``#define`` macro) and an exact ``old`` text that must
occur exactly once in that symbol's source, replaced by ``new``. The symbol is searched for in
every file of the package (bncheck/, derivations/), so the suite survives files moving; a
mutant whose symbol or text is not found is reported as stale, never skipped.

How a run works: the tracked and untracked-but-not-ignored files of the working tree are copied
to a scratch folder, the C kernels are built there, and a probe checks that Python imports
bncheck, bncheck.derivations and the compiled library from the scratch copy (PYTHONPATH comes before
the editable install's finder). The union of the mutants' test selections must pass on the
unmutated copy (the baseline). Then, for each mutant: apply the edit, rebuild the kernels if a
C file changed and check that the mutated library is the one loaded (its SHA-256), run the
mutant's targeted tests with ``pytest -x`` (and, if they all pass, the whole suite with ``-x``),
then restore the file (and the baseline library). Fates: killed (by the first failing test),
survived, stale, equivalent (only with a written argument, in :data:`MUTANTS`), build-failed.

The report, ``reports/mutation.md``, holds no timings or machine facts: rerun on unchanged code,
it is the same bytes. Timings go to stdout.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORT = Path("reports") / "mutation.md"
COMMAND = ".venv/bin/python benchmarks/mutation.py"
#: where the code under test lives (searched for every mutant's symbol)
PACKAGES = ("bncheck", "derivations")  # derivations/ is installed as bncheck.derivations
C_SUFFIXES = (".c", ".h")
#: seconds one pytest run may take before the mutant counts as killed by a timeout
TIMEOUT = 1800
#: the whole suite, for a mutant its targeted tests do not kill
WHOLE_SUITE = ("tests",)


@dataclass(frozen=True)
class Mutant:
    """One planted bug: in ``symbol`` (see the module docstring) ``old`` becomes ``new``.

    ``tests``: pytest arguments that select the tests most likely to kill it (run with -x in
    this order; the first failure is reported). ``equivalent``: the argument that the mutant
    cannot change behaviour, if it is claimed to be equivalent (it is still run).
    """

    id: str
    area: str
    description: str
    lang: str  # "python" or "c"
    symbol: str
    old: str
    new: str
    tests: tuple[str, ...]
    equivalent: str | None = None


NATIVE = "tests/bn/test_kernels.py"
ACCURACY = "tests/bn/test_accuracy_limits.py"
THREADS = "tests/bn/test_kernel_threads.py"
FALLBACK = (
    "tests/bn/test_fallback_cancellation.py",
    "tests/bn/test_kernels.py::test_the_numpy_fallback_is_a_correct_bn_and_agrees_with_the_compiled"
    "_kernels",
)
BUDGETS = ("tests/check/test_budget_tightness.py", "tests/check/test_tolerances.py")
MODELS = "tests/check/test_mistake_models.py"
KNOWN = "tests/check/test_verify.py::test_each_known_mistake_fails_with_its_diagnosis"
CODEGEN = "tests/derivations/test_derivations.py::test_run_writes_the_committed_bytes_again"
FD = ("tests/check/test_finite_diff.py", "tests/check/test_budget_tightness.py")
WIRE = ("tests/check/test_wire.py",)
FRAMES = ("tests/check/test_frames.py",)
PROTOCOL = ("tests/check/test_names.py",)
LAYOUT = ("tests/check/test_layout_detection.py",)
PROBES = ("tests/check/test_layer_probes.py",)
FITS = ("tests/check/test_fits.py",)
EVAL = ("tests/check/test_eval_check.py",)
DESCRIPTIONS = ("tests/check/test_descriptions.py",)

MUTANTS: tuple[Mutant, ...] = (
    # -- the C kernels ----------------------------------------------------------------------
    Mutant(
        "c-two-prod-no-fma",
        "C kernels",
        "two_prod computes its error term without fma "
        "(a·b − x is 0 under -ffp-contract=off): the products lose their low parts",
        "c",
        "two_prod",
        "*e = fma(a, b, -x);",
        "*e = a * b - x;",
        (NATIVE, ACCURACY),
    ),
    Mutant(
        "c-dd-lanes-drop-low",
        "C kernels",
        "the double-double reduction over lanes drops "
        "the lanes' low parts (Σ x and Σ (x − mu)² of (N, C, H, W) inputs)",
        "c",
        "reduce_dd",
        "for (idx j = 0; j < L; j++) dd_add(h, l, ah[q][j], al[q][j], &h, &l);",
        "for (idx j = 0; j < L; j++) dd_add(h, l, ah[q][j], 0.0, &h, &l);",
        (ACCURACY, NATIVE),
    ),
    Mutant(
        "c-scales-no-eps",
        "C kernels",
        "1/sqrt(var) without eps in the kernel's scales",
        "c",
        "bn_scales",
        "dd_add(vh, vl, eps, 0.0, &eh, &el);",
        "dd_add(vh, vl, 0.0, 0.0, &eh, &el);",
        (NATIVE, ACCURACY),
    ),
    Mutant(
        "c-dx-bracket-sign",
        "C kernels",
        "wrong sign of the x_hat term in the double-double dx bracket",
        "c",
        "dx_dd",
        "two_sum(s1, -p, &s2, &e2);",
        "two_sum(s1, p, &s2, &e2);",
        (NATIVE, ACCURACY),
    ),
    Mutant(
        "c-divide-loop-short",
        "C kernels",
        "the channel loop that divides the sums by m stops one channel short",
        "c",
        "bn_divide",
        "for (idx i = c0; i < c1; i++)",
        "for (idx i = c0; i < c1 - 1; i++)",
        (NATIVE,),
    ),
    Mutant(
        "c-constant-dy-case",
        "C kernels",
        "the constant-dy special case forgotten: dx "
        "and dgamma are rounding noise instead of exactly 0",
        "c",
        "bn_backward_coefs",
        "if (z && z[i] == 0.0) h2 = l2 = 0.0;",
        "/* constant dy: no special case */",
        (NATIVE,),
    ),
    Mutant(
        "c-dx-fast-sign",
        "C kernels",
        "wrong sign of the x_hat term in the float32 plain-double dx bracket ((N, C) layout)",
        "c",
        "bn_dx_fast",
        "- (BN_LDD(p, c) - mh[c]) * b[c]",
        "+ (BN_LDD(p, c) - mh[c]) * b[c]",
        (NATIVE, ACCURACY),
    ),
    Mutant(
        "c-center-lo-sign",
        "C kernels",
        "x − mu adds the mean's low part instead of subtracting it",
        "c",
        "center_dd",
        "two_sum(s, e - ml, ch, cl);",
        "two_sum(s, e + ml, ch, cl);",
        (ACCURACY, NATIVE),
    ),
    Mutant(
        "c-eval-finite-check-lost",
        "C kernels",
        "the float32 eval pass runs without its "
        "check for a non-finite y: an overflow of y is returned instead of raised",
        "c",
        "bn_affine_fast",
        "if (hash) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, beta2, y, 1, o0, "
        "hash, 1);\n    if (check) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, "
        "beta2, y, 1, 0, NULL, 0);",
        "if (hash) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, beta2, y, 0, o0, "
        "hash, 1);\n    if (check) return BN_FN(affine_fast_loops)(x, s, c0, c1, mh, sh, "
        "beta2, y, 0, 0, NULL, 0);",
        (NATIVE, "tests/bn/test_functional.py"),
    ),
    # -- the bindings and the per-channel plans ---------------------------------------------
    Mutant(
        "py-amp-limit",
        "bindings",
        "the float32 redo threshold so high that the double-double path is never taken",
        "python",
        "AMPLIFICATION_LIMIT",
        "2.0**21",
        "2.0**52",
        (NATIVE,),
    ),
    Mutant(
        "c-plan-m-outer-only",
        "bindings",
        "values per channel counted without the inner (spatial) axes in the forward's plan",
        "c",
        "forward_channels",
        "const double m = (double)(s.outer * s.inner);",
        "const double m = (double)s.outer;",
        (NATIVE,),
    ),
    Mutant(
        "py-refine-inverted",
        "bindings",
        "the float64 backward refines the "
        "variance when it is exact and trusts it when it is not (a float32 forward)",
        "python",
        "bn._compiled:backward",
        "refine = x.dtype == np.float64 and not exact_var",
        "refine = x.dtype == np.float64 and exact_var",
        (NATIVE,),
    ),
    Mutant(
        "c-ranges-floor-first",
        "bindings",
        "thread ranges as (C / n)·i: the last channels of an uneven split are never computed",
        "c",
        "bn_bound",
        "return C * i / n;",
        "return C / n * i;",
        (THREADS, NATIVE),
    ),
    Mutant(
        "c-fork-guard-lost",
        "bindings",
        "a forked child starts OpenMP threads after the "
        "parent had some: it waits for a thread pool that does not exist",
        "c",
        "bn_after_fork_in_child",
        "bn_forked = 1;",
        "bn_forked = 0;",
        (THREADS,),
    ),
    # -- the NumPy fallback -----------------------------------------------------------------
    Mutant(
        "np-projection-sign",
        "NumPy fallback",
        "the part of dx along x_hat added with the wrong sign in the cancellation-free backward",
        "python",
        "projected_dx",
        "perp += u_hat * ((a + b)",
        "perp -= u_hat * ((a + b)",
        FALLBACK,
    ),
    Mutant(
        "np-projection-cancels",
        "NumPy fallback",
        "1 − rho computed as 1 − var/(var + eps): the cancellation the projection exists to avoid",
        "python",
        "projected_dx",
        "one_minus_rho = eps / (var + eps)",
        "one_minus_rho = 1.0 - var / (var + eps)",
        FALLBACK,
    ),
    Mutant(
        "np-cancels-all-channels",
        "NumPy fallback",
        "the projection is used only when every channel cancels, not when any does",
        "python",
        "cancels",
        "return bool(np.any(",
        "return bool(np.all(",
        FALLBACK,
    ),
    Mutant(
        "np-forward-no-eps",
        "NumPy fallback",
        "1/sqrt(var) without eps in the fallback's forward",
        "python",
        "forward_numpy",
        "inv = 1.0 / np.sqrt(v + eps_f)",
        "inv = 1.0 / np.sqrt(v)",
        FALLBACK,
    ),
    Mutant(
        "np-halving-odd-row",
        "NumPy fallback",
        "the pairwise sum adds the leftover row when the length is even instead of odd",
        "python",
        "_halving_sum",
        "if length % 2:",
        "if length % 2 == 0:",
        FALLBACK,
    ),
    Mutant(
        "np-bracket-sign",
        "NumPy fallback",
        "wrong sign of the x_hat term in the fallback's dx bracket",
        "python",
        "_backward_block",
        "d -= xc",
        "d += xc",
        FALLBACK,
    ),
    # -- running statistics -----------------------------------------------------------------
    Mutant(
        "run-momentum-swapped",
        "running statistics",
        "momentum read in the other convention's meaning (torch weighs the old value by momentum)",
        "python",
        "new_batch_weight",
        "a = momentum if conv.momentum_is_new_weight else 1.0 - momentum",
        "a = 1.0 - momentum if conv.momentum_is_new_weight else momentum",
        ("tests/bn/test_running.py", "tests/bn/test_layer.py"),
    ),
    Mutant(
        "run-cumulative-off-by-one",
        "running statistics",
        "cumulative weight 1/(t + 1) for the t-th batch",
        "python",
        "new_batch_weight",
        "return 1.0 / t",
        "return 1.0 / (t + 1)",
        ("tests/bn/test_running.py", "tests/bn/test_layer.py"),
    ),
    Mutant(
        "run-bessel-inverted",
        "running statistics",
        "the unbiased running variance scaled by (m − 1)/m instead of m/(m − 1)",
        "python",
        "update_running",
        "bv = bv * (m / (m - 1))",
        "bv = bv * ((m - 1) / m)",
        ("tests/bn/test_running.py", "tests/bn/test_layer.py"),
    ),
    Mutant(
        "run-merge-equal-weight",
        "running statistics",
        "shard means merged with equal weights instead of by count",
        "python",
        "merge_shards",
        "mean_a = mean_a + delta * (int(n_b) / n)",
        "mean_a = mean_a + delta / 2",
        ("tests/bn/test_running.py",),
    ),
    # -- layer state and files --------------------------------------------------------------
    Mutant(
        "layer-counter-bumped-early",
        "layer state",
        "the batch counter bumped on entry, "
        "before the input is validated (and then once more by the update)",
        "python",
        "BatchNorm._forward",
        "        xa = self._check_input(x)\n",
        "        self.num_batches_tracked += int(self.training)\n"
        "        xa = self._check_input(x)\n",
        ("tests/bn/test_layer.py",),
    ),
    Mutant(
        "layer-counter-dropped-on-load",
        "layer state",
        "load_state_dict (and so load) does not restore num_batches_tracked",
        "python",
        "BatchNorm.load_state_dict",
        '            self.num_batches_tracked = new["num_batches_tracked"]\n',
        "",
        ("tests/bn/test_layer.py", "tests/bn/test_file_safety.py"),
    ),
    Mutant(
        "layer-counter-no-upper-bound",
        "layer files",
        "a loaded or saved counter is not checked against the int64 range",
        "python",
        "check_counter",
        "if n is None or not 0 <= n <= MAX_BATCHES_TRACKED:",
        "if n is None or n < 0:",
        ("tests/bn/test_file_safety.py", "-k", "counter"),
    ),
    Mutant(
        "layer-eval-input-unchecked",
        "layer state",
        "the eval-mode backward does not verify the checksum of the input it keeps (no copy)",
        "python",
        "BatchNorm.backward",
        "check_unchanged(self._eval_sum, x_sum)",
        "None",
        ("tests/bn/test_no_copy.py",),
    ),
    # -- error budgets ----------------------------------------------------------------------
    Mutant(
        "budget-compare-10x",
        "budgets",
        "compare() judges with the budget of a 10× larger condition",
        "python",
        "compare",
        "condition=k,",
        "condition=10.0 * k,",
        BUDGETS,
    ),
    Mutant(
        "budget-worst-channel",
        "budgets",
        "every channel judged with the condition of the worst channel",
        "python",
        "compare",
        "condition=k,",
        "condition=np.full_like(k, np.max(k)),",
        BUDGETS,
    ),
    Mutant(
        "budget-dbeta-c",
        "budgets",
        "dbeta's rounding constant c mistyped as 40",
        "python",
        "BUDGET_TABLE",
        '"dbeta": _Row(4.0, False)',
        '"dbeta": _Row(40.0, False)',
        BUDGETS,
    ),
    Mutant(
        "budget-linear-m",
        "budgets",
        "the worst-case γ_m (linear in m) instead of the probabilistic √m summation bound",
        "python",
        "summation_factor",
        "LAMBDA * math.sqrt(m) * u",
        "LAMBDA * m * u",
        BUDGETS,
    ),
    Mutant(
        "budget-any-channel",
        "budgets",
        "an output passes when any channel is within its budget",
        "python",
        "compare",
        "passed = bool(np.all(ulps <= budgets))",
        "passed = bool(np.any(ulps <= budgets))",
        BUDGETS,
    ),
    Mutant(
        "budget-ulp-in-float64",
        "budgets",
        "normwise ULP counted in float64 spacings whatever the dtype judged",
        "python",
        "channel_ulps",
        "unit = np.spacing(scale.astype(dt)).astype(np.float64)",
        "unit = np.spacing(scale)",
        ("tests/check/test_tolerances.py", "tests/check/test_budget_tightness.py"),
    ),
    Mutant(
        "budget-dx-k2-term",
        "budgets",
        "dx's sensitivity to s drops its nu²·mean|dy| term",
        "python",
        "column_conditions",
        "num2 = p + 2 * nu * (a2 + nu * r1)",
        "num2 = p + 2 * nu * a2",
        BUDGETS,
    ),
    # -- finite differences -----------------------------------------------------------------
    Mutant(
        "fd-richardson-first-order",
        "finite differences",
        "Richardson extrapolation with first-order coefficients (2·D(h/2) − D(h))",
        "python",
        "richardson_diff",
        "out[i] = (4.0 * d2 - d1) / 3.0",
        "out[i] = 2.0 * d2 - d1",
        FD,
    ),
    Mutant(
        "fd-directional-richardson",
        "finite differences",
        "check_directional's Richardson step with first-order coefficients",
        "python",
        "check_directional",
        "fd = (4.0 * d2 - d1) / 3.0",
        "fd = 2.0 * d2 - d1",
        FD,
    ),
    Mutant(
        "fd-nominal-step",
        "finite differences",
        "central differences divided by the nominal 2h instead of the step x ± h actually took",
        "python",
        "_central_1d",
        "step = float(xp.flat[flat]) - float(xm.flat[flat])",
        "step = 2.0 * h",
        FD,
    ),
    Mutant(
        "fd-central-half",
        "finite differences",
        "the directional central difference divided by h instead of 2h",
        "python",
        "directional_derivative",
        "/ (2.0 * step)",
        "/ step",
        FD,
    ),
    Mutant(
        "verify-fd-first-order",
        "verify engine",
        "the finite-difference check (verify's backward-fd and the public one) extrapolates with "
        "first-order coefficients",
        "python",
        "check_directional",
        "fd = (4.0 * d2 - d1) / 3.0",
        "fd = 2.0 * d2 - d1",
        ("tests/check/test_budget_tightness.py", "tests/check/test_verify.py"),
    ),
    # -- the verify engine ------------------------------------------------------------------
    Mutant(
        "verify-always-passes",
        "verify engine",
        "the forward/backward check compares the "
        "truth with itself (a comparison that always passes)",
        "python",
        "compare_outputs",
        "getattr(run, name),\n            truth[name],",
        "truth[name],\n            truth[name],",
        (KNOWN, MODELS),
    ),
    Mutant(
        "verify-running-either-bias",
        "verify engine",
        "the running check accepts either variance bias for the declared convention",
        "python",
        "_judge_running",
        "else [(declared, DEFAULT_BIAS[declared])]",
        "else [(declared, True), (declared, False)]",
        (KNOWN,),
    ),
    Mutant(
        "verify-eval-state-self",
        "verify engine",
        "the eval-state check compares the state before eval with itself",
        "python",
        "checks.running:check_eval",
        "_same(before.get(k), after.get(k))",
        "_same(before.get(k), before.get(k))",
        (KNOWN,),
    ),
    # -- the verify engine's own decisions (issue 22, point 6) ---------------------------------
    Mutant(
        "wire-int-range-edge",
        "verify engine",
        "the codec's 64-bit int range includes 2**63: encoding it raises struct.error "
        "instead of sending a marker",
        "python",
        "_Encoder.value",
        "-(1 << 63) <= obj < (1 << 63)",
        "-(1 << 63) <= obj <= (1 << 63)",
        WIRE,
    ),
    Mutant(
        "wire-items-limit-edge",
        "verify engine",
        "decode refuses a message of exactly max_items values (the limit off by one)",
        "python",
        "_Decoder.counted",
        "if self.left < 0:",
        "if self.left <= 0:",
        WIRE,
    ),
    Mutant(
        "wire-depth-edge",
        "verify engine",
        "the encoder nests one level deeper than MAX_DEPTH: the decoder refuses what it sent",
        "python",
        "_Encoder.value",
        "if depth >= MAX_DEPTH:",
        "if depth > MAX_DEPTH:",
        WIRE,
    ),
    Mutant(
        "wire-empty-shape-all",
        "verify engine",
        "an empty array's shape is refused only when all its lengths are huge, not any",
        "python",
        "_Decoder.array",
        "if any(n > (1 << 40) for n in shape):",
        "if all(n > (1 << 40) for n in shape):",
        WIRE,
    ),
    Mutant(
        "frames-size-limit-dropped",
        "verify engine",
        "read_frame does not check the announced payload length against its limit",
        "python",
        "read_frame",
        "            if size > limit:\n                raise TooLarge(size, limit)\n",
        "",
        FRAMES,
    ),
    Mutant(
        "frames-blocking-limit-edge",
        "verify engine",
        "read_frame_blocking refuses a frame of exactly its limit",
        "python",
        "read_frame_blocking",
        "if magic != MAGIC or size > limit:",
        "if magic != MAGIC or size >= limit:",
        FRAMES,
    ),
    Mutant(
        "protocol-pair-any",
        "verify engine",
        "find_pair takes a pair of names when either, not both, holds C values",
        "python",
        "names:find_pair",
        "ok = all(",
        "ok = any(",
        PROTOCOL,
    ),
    Mutant(
        "protocol-c-values-size-only",
        "verify engine",
        "C values recognised by their count alone: a (2, 2) array passes for C = 4",
        "python",
        "c_values",
        "return arr.size == c and max(arr.shape) == c",
        "return arr.size == c",
        PROTOCOL,
    ),
    Mutant(
        "layout-methods-or",
        "verify engine",
        "a train() or an eval() method, not both, is taken for the train()/eval() mode switch",
        "python",
        "mode_of",
        'callable(getattr(obj, "train", None)) and callable(getattr(obj, "eval", None))',
        'callable(getattr(obj, "train", None)) or callable(getattr(obj, "eval", None))',
        LAYOUT,
    ),
    Mutant(
        "layer-output-moved-any",
        "verify engine",
        "the parameter probe accepts a pair when any channel of the output moves, not every",
        "python",
        "layer:_changed",
        "return bool(np.all(moved > 1e-9 * scale))",
        "return bool(np.any(moved > 1e-9 * scale))",
        PROBES,
    ),
    Mutant(
        "layer-params-first-candidate",
        "verify engine",
        "parameter pairs the output follows none of: the first is taken instead of refusing",
        "python",
        "LayerAdapter._choose_params",
        "if len(candidates) == 1:",
        "if candidates:",
        PROBES,
    ),
    Mutant(
        "dispatch-first-class",
        "verify engine",
        "a module with several BN layer classes: the first is taken instead of refusing",
        "python",
        "_from_module",
        "        if len(classes) == 1:  # the module's only BN layer class\n"
        "            ((cls_name, cls),) = classes.items()\n",
        "        if classes:  # the module's first BN layer class\n"
        "            cls_name, cls = next(iter(classes.items()))\n",
        PROBES,
    ),
    Mutant(
        "fits-close-any",
        "diagnosis",
        "a fitted coefficient counts as close when any channel is, not every channel",
        "python",
        "fits:_close",
        "return bool(np.all(np.abs(v - t) <= tol * np.maximum(np.abs(t), 1.0)))",
        "return bool(np.any(np.abs(v - t) <= tol * np.maximum(np.abs(t), 1.0)))",
        FITS,
    ),
    Mutant(
        "fits-sum-dmu-coefficient",
        "diagnosis",
        "the missing-sum-dmu reading expects c = m/(m − 1) instead of (m − 1)/m",
        "python",
        "_compose",
        'if c.expr == "(m − 1)/m" and a.expr == "0" and b.expr == "m/(m − 1)":',
        'if c.expr == "m/(m − 1)" and a.expr == "0" and b.expr == "m/(m − 1)":',
        FITS,
    ),
    Mutant(
        "fits-dvar-guard-dropped",
        "diagnosis",
        "dvar-without-eps named without checking that its coefficient differs from 1",
        "python",
        "_fit_dx",
        "if _close(b, dvar_no_eps, FIT_DVAR_COEFFICIENT) and not _close(\n"
        "        dvar_no_eps, 1.0, FIT_DVAR_COEFFICIENT\n"
        "    ):",
        "if _close(b, dvar_no_eps, FIT_DVAR_COEFFICIENT) and not _close(\n"
        "        dvar_no_eps, 1e300, FIT_DVAR_COEFFICIENT\n"
        "    ):",
        FITS,
    ),
    Mutant(
        "fits-eval-first-hit",
        "diagnosis",
        "eval models this dtype cannot tell apart: the first is named instead of none",
        "python",
        "diagnose_eval",
        "if len(hits) != 1:",
        "if not hits:",
        FITS,
    ),
    Mutant(
        "eval-mean-finite-unchecked",
        "verify engine",
        "the eval check does not refuse a non-finite running mean "
        "(a float16 mean overflowed to inf)",
        "python",
        "checks.running:check_eval",
        "if bad.any() or not np.all(np.isfinite(rm.astype(np.float64))):",
        "if bad.any():",
        EVAL,
    ),
    Mutant(
        "results-ndims-range",
        "verify engine",
        "checked_description takes any rank from 2 up, not only 2 to 5",
        "python",
        "checked_description",
        "isinstance(n, int) and n in (2, 3, 4, 5)",
        "isinstance(n, int) and n >= 2",
        DESCRIPTIONS,
    ),
    Mutant(
        "results-channels-bool",
        "verify engine",
        "checked_description takes channels=True for one channel",
        "python",
        "checked_description",
        "isinstance(channels, int) and not isinstance(channels, bool) and channels > 0",
        "isinstance(channels, int) and channels > 0",
        DESCRIPTIONS,
    ),
    Mutant(
        "results-max-channels-edge",
        "verify engine",
        "checked_description refuses a target of exactly MAX_CHANNELS channels",
        "python",
        "checked_description",
        "elif channels > MAX_CHANNELS:",
        "elif channels >= MAX_CHANNELS:",
        DESCRIPTIONS,
    ),
    Mutant(
        "layer-file-shape-unchecked",
        "layer files",
        "a loaded entry's shape is not checked against num_features (only its dtype)",
        "python",
        "_from_archive",
        "ok = e.shape == shape and e.dtype == dtype",
        "ok = e.dtype == dtype",
        ("tests/bn/test_file_safety.py",),
    ),
    # -- the diagnosis ----------------------------------------------------------------------
    Mutant(
        "diag-unbiased-model-drift",
        "diagnosis",
        "the unbiased-normalize model's dx "
        "takes var^(−3/2) without eps in its variance path (the float64 backward checks "
        "then borrow their diagnosis from float32)",
        "python",
        "_unbiased_normalize",
        "g * s.inv**3 * s.xc",
        "g * np.sqrt(s.var) ** -3 * s.xc",
        (MODELS,),
    ),
    Mutant(
        "diag-eps-outside-model",
        "diagnosis",
        "the eps-outside-sqrt model's dx uses sqrt(var) + eps where its derivative has sqrt(var)",
        "python",
        "_eps_outside_sqrt",
        "(np.sqrt(s.var) * s.m)",
        "(s.sd * s.m)",
        (MODELS,),
    ),
    Mutant(
        "diag-dgamma-mean-times-m",
        "diagnosis",
        "the fit names a sum times m (Σ dy·x_hat·m, Σ dy·m) dgamma-mean or dbeta-mean "
        "instead of the mean (times 1/m)",
        "python",
        "_read_sum",
        'if magnitude == "1/m":',
        'if magnitude == "m":',
        (KNOWN, MODELS),
    ),
    Mutant(
        "diag-mu-path-mislabelled",
        "diagnosis",
        "a fitted a = 0 (no mean path) named missing-var-path",
        "python",
        "_coefficient_options",
        'path = "missing-mu-path" if coef == "a" else "missing-var-path"',
        'path = "missing-var-path" if coef == "a" else "missing-var-path"',
        (MODELS, KNOWN),
    ),
    # -- the derivation and the generated code ----------------------------------------------
    Mutant(
        "derive-unbiased-var",
        "derivation",
        "eq (7) derived with the unbiased divisor m − 1",
        "python",
        "var_of_mu",
        "** 2) / M",
        "** 2) / (M - 1)",
        ("tests/derivations/test_derivations.py",),
    ),
    Mutant(
        "codegen-plain-sum",
        "code generation",
        "the generated reference sums with sum() instead of the correctly rounded math.fsum",
        "python",
        "sum_lines",
        'f"math.fsum({body} for i in range(m))"',
        'f"sum({body} for i in range(m))"',
        (CODEGEN,),
    ),
    Mutant(
        "codegen-eps-outside",
        "code generation",
        "the generated statistics put eps outside the root",
        "python",
        "_stats_lines",
        "1.0 / math.sqrt(var + eps)  # (8)",
        "1.0 / (math.sqrt(var) + eps)  # (8)",
        (CODEGEN,),
    ),
)


# -- locating a symbol ----------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Where a symbol's source is: a file (relative to the tree) and character offsets."""

    path: Path
    start: int
    end: int


def _package_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in suffixes and path.is_file():
                yield path


def _line_offsets(text: str) -> list[int]:
    offsets, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        offsets.append(total)
    return offsets


def _python_spans(path: Path, text: str, qualname: str) -> list[tuple[int, int]]:
    """(start, end) of every definition of ``qualname`` (``a.b``: b inside class a) in a file;
    a module-level assignment counts as a definition of its name."""
    tree = ast.parse(text)
    parts = qualname.split(".")
    found: list[ast.stmt] = []

    def walk(body: list[ast.stmt], depth: int) -> None:
        for node in body:
            name = _defined_name(node)
            if name != parts[depth]:
                continue
            if depth == len(parts) - 1:
                found.append(node)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, depth + 1)

    walk(tree.body, 0)
    lines = _line_offsets(text)
    return [(lines[n.lineno - 1], lines[n.end_lineno or n.lineno]) for n in found]


def _defined_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _matching(text: str, start: int, opening: str, closing: str) -> int:
    """Index just past the bracket that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _c_spans(text: str, name: str) -> list[tuple[int, int]]:
    """(start, end) of every definition of C function ``name`` (plain, or through
    ``BN_FN(name)``) or of the macro ``#define name(``."""
    spans = []
    macro = re.search(rf"^#define\s+{re.escape(name)}\b", text, flags=re.M)
    if macro:
        end = macro.start()
        while True:
            line_end = text.find("\n", end)
            line_end = len(text) if line_end < 0 else line_end
            if not text[:line_end].rstrip().endswith("\\"):
                spans.append((macro.start(), line_end))
                break
            end = line_end + 1
    pattern = rf"(?:\bBN_FN\(\s*{re.escape(name)}\s*\)|(?<![\w]){re.escape(name)}\b)\s*\("
    for match in re.finditer(pattern, text):
        params_end = _matching(text, match.end() - 1, "(", ")")
        if params_end < 0:
            continue
        rest = re.match(r"(?:\s|\\\n)*", text[params_end:])
        brace = params_end + (rest.end() if rest else 0)
        if brace < len(text) and text[brace] == "{":
            body_end = _matching(text, brace, "{", "}")
            if body_end > 0:
                spans.append((match.start(), body_end))
    return spans


def _names_file(module: str, rel: Path) -> bool:
    """Whether ``module`` (a stem, or the end of a dotted module path: ``bn._compiled``) names
    the file at ``rel`` (relative to the tree's root)."""
    parts = tuple(module.split("."))
    return rel.with_suffix("").parts[-len(parts) :] == parts


def locate(root: Path, mutant: Mutant) -> Span | str:
    """The symbol's source in the tree at ``root``, or why it cannot be used (stale)."""
    stem, _, qualname = mutant.symbol.rpartition(":")
    hits: list[Span] = []
    suffixes = C_SUFFIXES if mutant.lang == "c" else (".py",)
    for path in _package_files(root, suffixes):
        if stem and not _names_file(stem, path.relative_to(root)):
            continue
        text = path.read_text(encoding="utf-8")
        spans = (
            _c_spans(text, qualname)
            if mutant.lang == "c"
            else (_python_spans(path, text, qualname))
        )
        hits += [Span(path.relative_to(root), a, b) for a, b in spans]
    if not hits:
        return f"{mutant.lang} symbol {mutant.symbol!r} not found"
    if len(hits) > 1:
        where = ", ".join(sorted({str(h.path) for h in hits}))
        return f"{mutant.symbol!r} is defined {len(hits)} times ({where})"
    span = hits[0]
    body = (root / span.path).read_text(encoding="utf-8")[span.start : span.end]
    count = body.count(mutant.old)
    if count != 1:
        return f"{mutant.old!r} occurs {count} times in {mutant.symbol!r} ({span.path})"
    return span


def mutated_text(root: Path, span: Span, mutant: Mutant) -> str:
    text = (root / span.path).read_text(encoding="utf-8")
    body = text[span.start : span.end].replace(mutant.old, mutant.new, 1)
    return text[: span.start] + body + text[span.end :]


# -- the scratch copy -------------------------------------------------------------------------


def tree_files(repo: Path) -> list[str]:
    """Tracked files and untracked ones not ignored: the working tree as git sees it."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    return sorted({p for p in out.stdout.decode().split("\0") if p})


def copy_tree(repo: Path, scratch: Path) -> None:
    for rel in tree_files(repo):
        src = repo / rel
        if src.is_file():  # listed but deleted in the working tree: not part of it
            dst = scratch / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    # derivations/ is installed as bncheck.derivations (a package-dir mapping that the
    # editable install resolves to the repository); on PYTHONPATH the scratch copy needs the
    # package in place, or bncheck.derivations would come from the repository
    (scratch / "bncheck" / "derivations").symlink_to(Path("..") / "derivations")


def scratch_env(scratch: Path) -> dict[str, str]:
    """The environment of every process run on the scratch copy: its code first on the path,
    no stale bytecode, the compiled kernels and the default test profile."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(scratch), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for var in ("BNCHECK_KERNELS", "BNCHECK_HYPOTHESIS_PROFILE"):
        env.pop(var, None)
    return env


def library(scratch: Path) -> Path:
    found = sorted((scratch / "bncheck" / "bn").glob("_bn.*.so")) + sorted(
        (scratch / "bncheck" / "bn").glob("_bn.*.pyd")
    )
    if len(found) != 1:
        raise RuntimeError(f"expected one built bncheck.bn._bn in {scratch / 'bncheck'}: {found}")
    return found[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(scratch: Path, env: dict[str, str]) -> str | None:
    """Build the C kernels in place; None on success, else the compiler's complaint."""
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace", "--force"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return (out.stdout + out.stderr).strip()[-2000:]
    return None


PROBE = """
import hashlib, importlib.util, json
import bncheck, bncheck.derivations, bncheck.bn._compiled as native
lib = native._load()
origin = importlib.util.find_spec("bncheck.bn._bn").origin
print(json.dumps({"bncheck": bncheck.__file__, "bncheck.derivations": bncheck.derivations.__file__,
                  "origin": origin, "loaded": None if lib is None else lib.__file__,
                  "sha": hashlib.sha256(open(origin, "rb").read()).hexdigest()}))
"""


def check_loaded(scratch: Path, env: dict[str, str], expected_sha: str) -> None:
    """Python in the scratch environment imports the scratch copy and loads exactly the
    library whose SHA-256 is ``expected_sha``; raises otherwise."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout)
    root = str(scratch.resolve())
    for key in ("bncheck", "bncheck.derivations", "origin", "loaded"):
        value = seen[key]
        if not value or not str(Path(value).resolve()).startswith(root):
            raise RuntimeError(f"the scratch run imports {key} from {value}, not from {root}")
    if seen["sha"] != expected_sha:
        raise RuntimeError(f"the loaded library {seen['origin']} is not the build expected")


# -- running the tests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One pytest run: passed, or what failed first (a test id, a collection error,
    'timeout')."""

    passed: bool
    failed: str = ""
    problem: str = ""  # a run that neither passed nor failed a test (usage error, no tests)


def run_pytest(scratch: Path, env: dict[str, str], args: Sequence[str], *, quick: bool) -> Outcome:
    """``pytest -x`` on ``args``; ``quick`` leaves out the slow-marked tests."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "--no-header", "-rfE"]
    cmd += ["-m", "not slow"] if quick else []
    proc = subprocess.Popen(
        [*cmd, *args],
        cwd=scratch,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # pytest and the workers it started
        proc.communicate()
        return Outcome(False, "timeout")
    if proc.returncode == 0:
        return Outcome(True)
    first = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, flags=re.M)
    if proc.returncode in (1, 2) and first:
        return Outcome(False, first.group(1).strip())
    if proc.returncode == 2:
        return Outcome(False, "collection error")
    tail = "\n".join(output.strip().splitlines()[-5:])
    return Outcome(False, problem=f"pytest exit {proc.returncode}: {tail}")


# -- one mutant -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fate:
    mutant: Mutant
    fate: str  # killed, survived, equivalent, stale, build-failed, error
    detail: str = ""  # the killing test, the reason it is stale, ...
    seconds: float = 0.0


def try_mutant(
    scratch: Path, env: dict[str, str], mutant: Mutant, base_sha: str, *, fallback: bool
) -> Fate:
    start = time.perf_counter()
    span = locate(scratch, mutant)
    if isinstance(span, str):
        return Fate(mutant, "stale", span)
    path = scratch / span.path
    original = path.read_text(encoding="utf-8")
    lib = library(scratch)
    base_lib = lib.read_bytes()
    try:
        path.write_text(mutated_text(scratch, span, mutant), encoding="utf-8")
        if mutant.lang == "c":
            failure = build(scratch, env)
            if failure is not None:
                return Fate(mutant, "build-failed", failure.splitlines()[-1])
            new_sha = sha256(lib)
            if new_sha == base_sha:
                print(f"  note: {mutant.id} compiles to the same library as the baseline")
            check_loaded(scratch, env, new_sha)
        fate = _judge(scratch, env, mutant, fallback)
    finally:
        path.write_text(original, encoding="utf-8")
        if mutant.lang == "c":
            lib.write_bytes(base_lib)
            if sha256(lib) != base_sha:
                raise RuntimeError(f"could not restore the baseline library {lib}")
    return Fate(mutant, fate[0], fate[1], time.perf_counter() - start)


def _judge(scratch: Path, env: dict[str, str], mutant: Mutant, fallback: bool) -> tuple[str, str]:
    outcome = run_pytest(scratch, env, mutant.tests, quick=True)
    if not outcome.passed and not outcome.failed:
        return "error", outcome.problem
    if outcome.passed and fallback:
        outcome = run_pytest(scratch, env, WHOLE_SUITE, quick=False)
        if not outcome.passed and not outcome.failed:
            return "error", outcome.problem
    if not outcome.passed:
        return "killed", outcome.failed
    if mutant.equivalent:
        return "equivalent", mutant.equivalent
    return "survived", "no test failed" + (" (the whole suite ran)" if fallback else "")


# -- the report -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code for an edit's text: its lines stripped and joined by ⏎ (backticks doubled
    around text that holds one); an empty text is "(nothing)"."""
    if not text.strip():
        return "(nothing)"
    shown = " ⏎ ".join(line.strip() for line in text.strip("\n").split("\n"))
    fence = "``" if "`" in shown else "`"
    return f"{fence}{shown}{fence}"


def summary(fates: Sequence[Fate]) -> tuple[str, bool]:
    counts = {
        k: sum(f.fate == k for f in fates)
        for k in ("killed", "survived", "equivalent", "stale", "build-failed", "error")
    }
    judged = len(fates) - counts["equivalent"]
    rate = 100.0 * counts["killed"] / judged if judged else 100.0
    text = (
        f"{counts['killed']} of {judged} non-equivalent mutants killed ({rate:.0f} %); "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if k != "killed")
    )
    return text, counts["killed"] == judged


def render(fates: Sequence[Fate]) -> str:
    text, _ = summary(fates)
    lines = [
        f"<!-- generated by `{COMMAND}` — do not edit -->",
        "",
        "# Mutation testing",
        "",
        f"{len(fates)} realistic bugs (mutants) planted one at a time in a scratch copy of the "
        "tree; a mutant is killed when a test fails on it. Each is defined by the function it "
        "changes and the exact text it replaces there (`benchmarks/mutation.py`), and is run "
        "against its targeted tests, then, if they pass, the whole suite.",
        "",
        f"Command: `{COMMAND}` (`--only ID[,ID]` for some mutants, `--list` to list them).",
        "",
        f"**Result: {text}.**",
        "",
        "| mutant | area | where | the bug | fate | killed by |",
        "|---|---|---|---|---|---|",
    ]
    for f in fates:
        m = f.mutant
        killer = f.detail if f.fate == "killed" else ""
        lines.append(
            f"| {m.id} | {m.area} | {m.lang} `{m.symbol}` | {_cell(m.description)} | {f.fate} "
            f"| {_cell(killer)} |"
        )
    lines += ["", "## Equivalent, surviving and stale mutants", ""]
    others = [f for f in fates if f.fate != "killed"]
    lines += [f"- **{f.mutant.id}** ({f.fate}): {_cell(f.detail)}" for f in others] or ["None."]
    lines += ["", "## The edits", ""]
    for f in fates:
        m = f.mutant
        lines.append(f"- **{m.id}**, in {m.lang} `{m.symbol}`: {_code(m.old)} → {_code(m.new)}")
    return "\n".join(lines) + "\n"


# -- main -----------------------------------------------------------------------------------


def select(only: str | None) -> list[Mutant]:
    ids = {m.id for m in MUTANTS}
    if len(ids) != len(MUTANTS):
        raise SystemExit("duplicate mutant ids in MUTANTS")
    if not only:
        return list(MUTANTS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in ids]
    if unknown:
        raise SystemExit(f"--only: unknown mutant ids {unknown}; see --list")
    return [m for m in MUTANTS if m.id in wanted]


def list_mutants(mutants: Sequence[Mutant]) -> int:
    stale = 0
    for m in mutants:
        span = locate(REPO, m)
        status = f"stale: {span}" if isinstance(span, str) else f"found in {span.path}"
        stale += isinstance(span, str)
        print(f"{m.id:30} {m.area:20} {m.lang:6} {m.symbol:28} {status}")
        print(f"{'':30} {m.description}")
    print(f"{len(mutants)} mutants, {stale} stale")
    return 1 if stale else 0


def baseline(scratch: Path, env: dict[str, str], mutants: Sequence[Mutant]) -> None:
    """The union of the selections passes on the unmutated copy (else nothing can be judged).
    A selection with -k options runs on its own."""
    plain: list[str] = []
    for m in mutants:
        if any(a.startswith("-") for a in m.tests):
            outcome = run_pytest(scratch, env, m.tests, quick=True)
            if not outcome.passed:
                raise SystemExit(f"baseline: {m.id}'s tests fail unmutated: {outcome}")
        else:
            plain += [t for t in m.tests if t not in plain]
    outcome = run_pytest(scratch, env, plain, quick=True)
    if not outcome.passed:
        raise SystemExit(f"baseline: the selected tests fail on the unmutated tree: {outcome}")


def run(mutants: Sequence[Mutant], *, fallback: bool, keep: bool) -> list[Fate]:
    scratch = Path(tempfile.mkdtemp(prefix="bncheck-mutation-"))
    try:
        t0 = time.perf_counter()
        copy_tree(REPO, scratch)
        env = scratch_env(scratch)
        failure = build(scratch, env)
        if failure is not None:
            raise SystemExit(f"the unmutated kernels do not build:\n{failure}")
        base_sha = sha256(library(scratch))
        check_loaded(scratch, env, base_sha)
        print(f"scratch copy {scratch}: built and loaded ({time.perf_counter() - t0:.0f} s)")
        t0 = time.perf_counter()
        baseline(scratch, env, mutants)
        print(f"baseline: the selected tests pass unmutated ({time.perf_counter() - t0:.0f} s)")
        fates = []
        for i, m in enumerate(mutants, 1):
            fate = try_mutant(scratch, env, m, base_sha, fallback=fallback)
            fates.append(fate)
            print(
                f"[{i:2}/{len(mutants)}] {m.id:30} {fate.fate:12} {fate.detail[:90]} "
                f"({fate.seconds:.0f} s)",
                flush=True,
            )
        return fates
    finally:
        if keep:
            print(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="ID[,ID]", help="run these mutants; no report")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--no-fallback",
        action="store_true",
        help="do not run the whole suite on a mutant its tests miss",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)
    mutants = select(args.only)
    if args.list:
        return list_mutants(mutants)
    start = time.perf_counter()
    fates = run(mutants, fallback=not args.no_fallback, keep=args.keep)
    text, complete = summary(fates)
    width = max(len(m.id) for m in mutants)
    print()
    for f in fates:
        print(f"{f.mutant.id:{width}}  {f.mutant.area:18}  {f.fate:12}  {f.detail[:100]}")
    print(f"\n{text} ({time.perf_counter() - start:.0f} s)")
    if not args.only:
        (REPO / REPORT).write_text(render(fates), encoding="utf-8")
        print(f"wrote {REPORT}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
