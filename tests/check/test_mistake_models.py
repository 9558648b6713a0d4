"""The mistake catalogue's models stay the mistakes they name, and the verifier names them.

A catalogue row's formula (``bncheck.check._verify.diagnosis.mistakes``) is what the diagnosis
matches a failing target against. If the formula drifts from the mistake, nothing breaks loudly: one
check of one target merely loses its diagnosis. So here every numeric row is compared, output by
output, with an independent wrong implementation written from the mistake's description
(tests/impls/mistake_refs.py), and a target carrying each mistake is verified with the diagnosis
asserted on *every* failing forward and backward check, each named on its own (not borrowed from the
same check on another dtype or rank).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

from bncheck.check import verify
from bncheck.check.truth import exact_batchnorm
from tests.impls import functional, variants
from tests.impls.mistake_refs import REFERENCES, correct
from tests.internals import MISTAKES, Mistake, mistake_outputs
from tests.realworld_cases import CASES as CORPUS

NUMERIC: dict[str, Mistake] = {m.id: m for m in MISTAKES if m.compute is not None}

#: Normwise agreement of two float64 evaluations of the same formula (different orders of the
#: operations, the complex step): a few hundred u64 at most; a drifted formula is off by far
#: more (a missing term, m for m − 1 at m <= 32: >= 1e-3).
SAME = 1e-9
#: A mistake must change the outputs it claims to change by more than this (relative).
CHANGED = 1e-7


def _inputs(shape: tuple[int, ...], eps: float, seed: int) -> tuple[Any, ...]:
    """x off-centre, gamma of both signs away from 1, beta and dy random: every path shows."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = 1.5 + 2.0 * rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)
    beta = rng.normal(size=c)
    dy = rng.standard_normal(shape)
    return x, gamma, beta, dy, eps


#: (shape, eps): 2-D and 4-D, eps small and large (so that where eps sits is visible)
CASES = {
    "(16, 3) eps 1e-5": ((16, 3), 1e-5),
    "(16, 3) eps 0.3": ((16, 3), 0.3),
    "(4, 3, 3, 2) eps 1e-5": ((4, 3, 3, 2), 1e-5),
    "(2, 2, 2, 3) eps 0.3": ((2, 2, 2, 3), 0.3),
}


def _channels(a: NDArray[Any]) -> NDArray[np.float64]:
    """(N, C, ...) -> (m, C); a per-channel vector stays one column."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        return arr.reshape(-1, 1)
    return np.moveaxis(arr, 1, -1).reshape(-1, arr.shape[1])


def _relative(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Worst per-channel max|a − b| / max|b| (the whole vector for dgamma and dbeta)."""
    ca, cb = _channels(a), _channels(b)
    scale = np.maximum(np.abs(cb).max(axis=0), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(ca - cb).max(axis=0) / scale))


def test_every_numeric_mistake_has_an_independent_reference() -> None:
    assert set(REFERENCES) == set(NUMERIC)


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_the_reference_without_a_mistake_is_the_exact_truth(case: tuple[Any, float]) -> None:
    x, gamma, beta, dy, eps = _inputs(*case, seed=1)
    ref = correct(x, gamma, beta, dy, eps)
    truth = exact_batchnorm(x, gamma, beta, dy, eps=eps, axis=1)
    for name in ("y", "dx", "dgamma", "dbeta"):
        assert _relative(ref[name], getattr(truth, name)) <= SAME, name


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
@pytest.mark.parametrize("mistake_id", sorted(NUMERIC))
def test_each_catalogue_model_computes_its_mistake_output_by_output(
    mistake_id: str, case: tuple[tuple[int, ...], float]
) -> None:
    mistake = NUMERIC[mistake_id]
    shape, eps = case
    x, gamma, beta, dy, _ = _inputs(shape, eps, seed=2)
    model = mistake_outputs(mistake, x, gamma, beta, dy, eps)
    if mistake.only_ndim is not None and len(shape) != mistake.only_ndim:
        assert model is None  # not applicable to this rank
        return
    assert model is not None
    wrong = REFERENCES[mistake_id](x, gamma, beta, dy, eps)
    right = correct(x, gamma, beta, dy, eps)
    # the model gives exactly the outputs the row says the mistake changes...
    assert sorted(model) == sorted(mistake.outputs)
    for name in ("y", "dx", "dgamma", "dbeta"):
        if name in mistake.outputs:
            # ...each one equal to the independent wrong implementation's...
            err = _relative(model[name], wrong[name])
            assert err <= SAME, f"{mistake_id} {name}: model off the mistake by {err:.3g}"
            # ...and really changed by the mistake,
            assert _relative(wrong[name], right[name]) > CHANGED, f"{mistake_id} {name}"
        else:
            # while the outputs it does not list are the correct ones.
            err = _relative(wrong[name], right[name])
            assert err <= SAME, f"{mistake_id} also changes {name} ({err:.3g})"


class Target(NamedTuple):
    spec: str
    convention: str
    ndims: tuple[int, ...]


def _target(mistake_id: str) -> Target:
    """A BN with exactly this mistake: the one of tests/impls named after it, else one of the
    corpus of real-world styles diagnosed with it alone."""
    prefix = mistake_id.replace("-", "_")
    for module in (functional, variants):
        if hasattr(module, f"{prefix}_forward"):
            return Target(f"{module.__file__}:{prefix}", "any", (2, 4))
    for case in CORPUS:
        if case.diagnosis == {mistake_id}:
            return Target(case.spec, case.convention, case.ndims)
    raise LookupError(f"no one-mistake target for {mistake_id} in tests/impls")


BORROWED = "named as in the same check on another dtype or rank"


@pytest.mark.parametrize("mistake_id", sorted(NUMERIC))
def test_every_failing_forward_and_backward_check_names_the_mistake(mistake_id: str) -> None:
    target = _target(mistake_id)
    report = verify(target.spec, convention=target.convention, ndims=target.ndims, timeout=20)
    numeric = [c for c in report.failed if c.id.startswith(("forward/", "backward/"))]
    assert numeric, [(c.id, c.message) for c in report.failed]
    unnamed = [(c.id, c.diagnosis) for c in numeric if mistake_id not in c.diagnosis]
    assert not unnamed, f"{mistake_id} not named on {unnamed}"
    borrowed = [c.id for c in numeric if BORROWED in c.explanation]
    assert not borrowed, f"{mistake_id} named on {borrowed} only through another dtype or rank"
    assert {d["id"] for d in report.diagnosis} == {mistake_id}
    assert not report.unexplained


def test_a_bn_written_for_2d_input_fails_on_4d_by_its_axes_and_is_told_how_to_check_2d_alone() -> (
    None
):
    """A tutorial's BN over axis 0 runs on 4-D input channels-last and normalizes each position
    over N alone: as a 4-D BN it is wrong (wrong-axes), which its code cannot tell from a
    spatial BN reduced over N only; the fix says how to check it on the input it is meant for,
    and there it passes."""
    target = f"{functional.__file__}:tutorial_2d"
    report = verify(target, dtypes=("float64",), timeout=20)
    failed = {c.id for c in report.failed}
    assert failed and all("/4d/" in i for i in failed), sorted(failed)
    assert {c.id: c.status for c in report.checks}["forward/2d/float64"] == "pass"
    (wrong,) = [d for d in report.diagnosis if d["id"] == "wrong-axes"]
    assert "--ndims 2" in wrong["fix"], wrong
    assert verify(target, dtypes=("float64",), ndims=(2,), timeout=20).passed
